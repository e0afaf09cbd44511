"""The CJK font for text stamps: one face of Debian's Noto Sans CJK collection, subset per text.

pyHanko's `GlyphAccumulator` opens a single OpenType file, not a collection, so the face is
extracted once into the data directory with fontTools (RECIPES.md). fontTools holds the whole
16 MB face in memory while it works (about 190 MB resident), so the extraction runs in a short
child process. Each stamp then embeds a font holding only the characters it shows, cut out by
HarfBuzz's subsetter (`hb-subset`, in C: about a millisecond, from a memory-mapped file) and
cached by character set; pyHanko embeds it as a CID-keyed CFF font (ISO 32000-1 §9.7.4).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType0, GlyphAccumulator
from pyhanko.pdf_utils.writer import BasePdfFileWriter

__all__ = ["CjkFont", "SubsetFontFactory", "extract_face"]

# Layout tables unused for horizontal Chinese text; dropping them keeps the extracted face lean.
_DROP_TABLES = ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "DSIG", "JSTF", "MATH"]
_CACHE_SIZE = 256


def _extract(ttc: Path, index: int, target: Path) -> None:
    """Save face `index` of `ttc` to `target` (atomically), without the layout tables."""
    from fontTools.ttLib import TTCollection

    face = TTCollection(str(ttc)).fonts[index]
    for tag in _DROP_TABLES:
        if tag in face:
            del face[tag]
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    face.save(str(tmp))
    os.replace(tmp, target)


def extract_face(ttc: Path, index: int, target: Path) -> Path:
    """Write face `index` of the collection `ttc` to `target` once (in a child process) and return it."""
    if target.exists():
        return target
    if not ttc.is_file():
        raise FileNotFoundError(ttc)
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "qianshu.signing.fonts", str(ttc), str(index), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or not target.exists():
        raise OSError(f"cannot extract face {index} of {ttc.name}: {proc.stderr.strip()[-300:]}")
    return target


class CjkFont:
    """A CJK face on disk (memory-mapped by HarfBuzz) plus a cache of small per-text subsets."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._face: hb.Face | None = None
        self._subsets: OrderedDict[frozenset[str], bytes] = OrderedDict()

    def _hb_face(self) -> hb.Face:
        if self._face is None:
            self._face = hb.Face(hb.Blob.from_file_path(str(self.path)))
        return self._face

    def subset_for(self, text: str) -> bytes:
        """Return an OpenType font holding the glyphs of `text` (cached by character set)."""
        chars = frozenset(text) - {"\n"}
        with self._lock:
            cached = self._subsets.get(chars)
            if cached is not None:
                self._subsets.move_to_end(chars)
                return cached
            request = hb.SubsetInput()
            for ch in chars:
                request.unicode_set.add(ord(ch))
            data = bytes(hb.subset(self._hb_face(), request).blob.data)
            self._subsets[chars] = data
            while len(self._subsets) > _CACHE_SIZE:
                self._subsets.popitem(last=False)
        return data

    def text_width(self, text: str, font_size: float) -> float:
        """Return the advance width of one line of `text` in points at `font_size`."""
        with self._lock:
            face = self._hb_face()
        buf = hb.Buffer()
        buf.add_str(text)
        buf.guess_segment_properties()
        hb.shape(hb.Font(face), buf, {})
        units: int = sum(pos.x_advance for pos in buf.glyph_positions)
        return units * font_size / int(face.upem)

    def factory_for(self, text: str, font_size: int = 10) -> SubsetFontFactory:
        """Return a pyHanko font-engine factory that can render exactly `text`."""
        return SubsetFontFactory(self.subset_for(text), font_size)


class _PresetCidFont(CIDFontType0):
    """A CID-keyed CFF font (ISO 32000-1 §9.7.4.2) embedded as the bytes hb-subset produced."""

    def __init__(self, tt: TTFont, base_ps_name: str, subset_prefix: str) -> None:
        super().__init__(tt, base_ps_name, subset_prefix)
        self._cff_bytes: bytes = tt.reader["CFF "]

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Embed the CFF table as /FontFile3 (Table 126) without recompiling it with fontTools."""
        stream = generic.StreamObject(
            {generic.pdf_name("/Subtype"): generic.pdf_name("/CIDFontType0C")}, stream_data=self._cff_bytes
        )
        stream.compress()  # type: ignore[no-untyped-call]  # pyHanko: untyped
        ref: generic.IndirectObject = writer.add_object(stream)
        self._font_descriptor[generic.pdf_name("/FontFile3")] = ref
        return ref


class _SubsetGlyphAccumulator(GlyphAccumulator):
    """A glyph accumulator for a font hb-subset already cut down to exactly the stamp's text.

    pyHanko would subset the font again and recompile its CFF with fontTools (≈ 8 ms a stamp);
    both only repeat hb-subset's work, so the font program is embedded as it is.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.cidfont_obj, CIDFontType0) and not self.use_raw_gids:
            base_ps_name = self.cidfont_obj.name.split("+", 1)[-1]  # name is "<prefix>+<PostScript name>"
            self.cidfont_obj = _PresetCidFont(self.tt, base_ps_name, self.subset_prefix)

    def _extract_subset(self, options: object = None) -> None:
        """Keep the font: it holds only the glyphs the stamp shows."""


class SubsetFontFactory(FontEngineFactory):
    """pyHanko `FontEngineFactory` over an in-memory (subset) OpenType font."""

    def __init__(self, font_bytes: bytes, font_size: int = 10) -> None:
        self.font_bytes = font_bytes
        self.font_size = font_size

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> GlyphAccumulator:
        """Return a glyph accumulator that embeds a subset of this font into `writer`."""
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]  # pyHanko: untyped
        return _SubsetGlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(self.font_bytes),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


if __name__ == "__main__":
    _extract(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
