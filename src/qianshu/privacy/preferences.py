"""Marketing preferences (P17): off by default, per channel, withdrawn with one click.

Marketing needs the `marketing` consent of the consent ledger and at least one channel switched on
here. Switching a channel on grants the consent (when the policy in force is accepted); switching
both off withdraws it, and so does the unsubscribe link, which works without signing in: its token
is an HMAC over the user id under a key kept in the secrets folder.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import is_id
from qianshu.core.runtime import read_or_create_secret, runtime_of
from qianshu.core.security import equal_secrets
from qianshu.evidence import service as evidence_service
from qianshu.privacy.centre_models import NotificationPreference
from qianshu.privacy.centre_schemas import PreferencesRead

MARKETING = "marketing"
_KEY_FILE = "privacy-unsubscribe.key"


def get_preferences(*, session: Session, user_id: str) -> PreferencesRead:
    """Return the person's marketing channels and consent (all off until they opt in)."""
    from qianshu.privacy import service as privacy_service

    row = session.get(NotificationPreference, user_id)
    consent = privacy_service.has_consent(session=session, user_id=user_id, purpose=MARKETING)
    return PreferencesRead(
        marketing_sms=bool(row and row.marketing_sms and consent),
        marketing_email=bool(row and row.marketing_email and consent),
        marketing_consent=consent,
    )


def set_preferences(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    marketing_sms: bool,
    marketing_email: bool,
    context: RequestContext | None = None,
) -> PreferencesRead:
    """Choose marketing channels; any channel on grants the marketing consent, none withdraws it."""
    from qianshu.privacy import service as privacy_service

    if marketing_sms or marketing_email:
        privacy_service.grant_consent(
            session=session, clock=clock, user_id=user_id, purpose=MARKETING, context=context
        )
    else:
        privacy_service.withdraw_consent(
            session=session, clock=clock, user_id=user_id, purpose=MARKETING, context=context
        )
    row = session.get(NotificationPreference, user_id)
    if row is None:
        row = NotificationPreference(user_id=user_id, updated_at=clock.now())
        session.add(row)
    row.marketing_sms, row.marketing_email, row.updated_at = marketing_sms, marketing_email, clock.now()
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=user_id,
        action="privacy.preferences_changed",
        data={"marketing_sms": marketing_sms, "marketing_email": marketing_email},
        context=context,
    )
    return get_preferences(session=session, user_id=user_id)


def may_send_marketing(*, session: Session, user_id: str, channel: str) -> bool:
    """Tell whether marketing may go to `user_id` on `channel` (`sms` or `email`); notify asks this."""
    prefs = get_preferences(session=session, user_id=user_id)
    return prefs.marketing_sms if channel == "sms" else prefs.marketing_email if channel == "email" else False


def _key(session: Session) -> bytes:
    return read_or_create_secret(runtime_of(session).settings.secrets_dir / _KEY_FILE)


def unsubscribe_token(*, session: Session, user_id: str) -> str:
    """Return the token of the one-click unsubscribe link for `user_id` (HMAC-SHA256, RFC 2104)."""
    return hmac.new(_key(session), f"unsubscribe.v1:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe(
    *, session: Session, clock: Clock, user_id: str, token: str, context: RequestContext | None = None
) -> PreferencesRead:
    """Turn all marketing off for `user_id` when the link's token is right (no sign-in needed)."""
    expected = unsubscribe_token(session=session, user_id=user_id) if is_id(user_id, "usr") else ""
    if not expected or not equal_secrets(expected, token):
        raise InvalidInput("退订链接无效", detail_en="The unsubscribe link is not valid")
    return set_preferences(
        session=session,
        clock=clock,
        user_id=user_id,
        marketing_sms=False,
        marketing_email=False,
        context=context,
    )
