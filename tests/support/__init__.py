"""Test helpers other domains' tests import (sandbox providers on loopback)."""
