"""HTML templates to A4 PDF with WeasyPrint, Chinese fonts included.

Fonts come from fontconfig. The families for each role are settings, so a
station that has licensed 仿宋_GB2312 or 方正小标宋 installs them and names
them; every role falls back to free fonts from Debian's packages, ending in
fonts that cover CJK Extension B, so a name like 吉𠮷 never prints as boxes.

WeasyPrint embeds only the glyphs a document uses, but keeps their glyph
ids, so a CJK font whose glyphs sit at high ids adds 50-150 KB per font even
for a title of ten characters. Each document therefore gets its chosen fonts
as @font-face rules holding a HarfBuzz subset (uharfbuzz) of just the
characters in its HTML, which keeps a letter well under 200 KB. Characters
that a chosen font lacks fall through to the system fonts in the stack.
"""

import base64
import io
import logging
import re
import shutil
import subprocess
from functools import lru_cache

import pypdfium2
import segno
import uharfbuzz
from flask import render_template
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageFile
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

# Importing WeasyPrint 70 sets Pillow's LOAD_TRUNCATED_IMAGES for the whole
# process, which would let truncated uploads pass services.photos. Documents
# only embed photos that were already checked, so the default comes back.
ImageFile.LOAD_TRUNCATED_IMAGES = False

logger = logging.getLogger("tuanyuan.documents")

# role: (default family, label). Debian 12 has no free FangSong or
# XiaoBiaoSong with simplified forms (cwTeX FangSong covers Big5 only), so the
# defaults are the nearest free styles: Kaiti for FangSong, a bold Song for
# XiaoBiaoSong.
FONT_ROLES = {
    "font_body": ("AR PL UKai CN", _l("正文字体（仿宋）")),
    "font_title": ("Noto Serif CJK SC", _l("标题字体（小标宋）")),
    "font_heading": ("Noto Sans CJK SC", _l("一级标题字体（黑体）")),
    "font_kai": ("AR PL UKai CN", _l("二级标题字体（楷体）")),
}
# Tried in order for characters the chosen family lacks. HanaMinB and
# BabelStone Han cover CJK Extension B (fonts-hanazono, fonts-babelstone-han).
FALLBACK_FAMILIES = (
    "Noto Serif CJK SC",
    "AR PL UKai CN",
    "Noto Sans CJK SC",
    "HanaMinA",
    "HanaMinB",
    "BabelStone Han",
)
# Family names go into CSS, so only these characters are accepted.
FAMILY_PATTERN = re.compile(r"^[\w .\-+()（）]{1,80}$")

# Embedded pictures are resampled to this resolution at their printed size.
PRINT_DPI = 300
JPEG_QUALITY = 82


class RenderError(Exception):
    pass


# The URL scheme of a document's font subsets, which its fetcher serves
# from memory. Base64 fonts in data: URLs cost tinycss2 0.4 s a document.
FONT_SCHEME = "tuanyuan-font"


class DocumentFetcher(URLFetcher):
    """Serves a document's font subsets and data: URLs, nothing else: no file
    path and no network address is ever read."""

    def __init__(self, fonts=None):
        super().__init__(allowed_protocols=("data", FONT_SCHEME), fail_on_errors=True)
        self.fonts = fonts or {}

    def fetch(self, url, headers=None):
        if url.startswith(FONT_SCHEME + ":"):
            return URLFetcherResponse(
                url, self.fonts[url], headers={"Content-Type": "font/sfnt"}
            )
        return super().fetch(url, headers)


@lru_cache(maxsize=1)
def installed_families():
    """Return the names of the font families installed for fontconfig."""
    try:
        # Fixed arguments, no user input.
        listing = subprocess.run(  # noqa: S603
            [shutil.which("fc-list") or "/usr/bin/fc-list", "--format", "%{family}\n"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        logger.exception("fc-list failed; font names cannot be checked")
        return frozenset()
    names = set()
    for line in listing.splitlines():
        names.update(name.strip() for name in line.split(",") if name.strip())
    return frozenset(names)


def is_valid_family(name):
    return bool(FAMILY_PATTERN.match(name))


def _subset_family(role):
    # The @font-face family that contains a document's subset of a role's font.
    return "ty-" + role.removeprefix("font_")


def font_stack(role, family):
    """Return a CSS font-family value: the document's subset of `family`,
    the subsets of the fallbacks, then the installed families themselves."""
    names = [family] + [name for name in FALLBACK_FAMILIES if name != family]
    subsets = [_subset_family(role)] + [
        _fallback_family(number) for number in range(len(FALLBACK_FAMILIES))
    ]
    quoted = [f'"{name}"' for name in subsets + names if is_valid_family(name)]
    return ", ".join(quoted)


def _fallback_family(number):
    return f"ty-fallback-{number}"


def font_stacks(families):
    """Return {role: CSS font-family value} for {role: chosen family}."""
    return {role: font_stack(role, families[role]) for role in FONT_ROLES}


@lru_cache(maxsize=64)
def _font_file(family, bold):
    """Return (path, face index) of an installed `family` face, or None."""
    pattern = f"{family}:weight={'bold' if bold else 'regular'}"
    try:
        # Fixed program, and the family name was checked by FAMILY_PATTERN.
        found = subprocess.run(  # noqa: S603
            [
                shutil.which("fc-match") or "/usr/bin/fc-match",
                "--format",
                "%{file}|%{index}|%{family}|%{weight}",
                pattern,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        path, index, names, weight = found.split("|")
    except (OSError, subprocess.SubprocessError, ValueError):
        logger.exception("fc-match failed for a font family")
        return None
    # fc-match names its nearest font when the family is missing.
    if family not in names.split(","):
        return None
    # 200 is bold in fontconfig's scale. A family without a bold face returns
    # its regular one, and bold text then uses the regular subset.
    if bold and int(weight.split()[0].strip("[")) < 200:
        return None
    return path, int(index)


@lru_cache(maxsize=16)
def _hb_face(path, index):
    return uharfbuzz.Face(uharfbuzz.Blob.from_file_path(path), index)


@lru_cache(maxsize=16)
def _coverage(path, index):
    return frozenset(_hb_face(path, index).unicodes)


def _subset_font(path, index, codepoints):
    options = uharfbuzz.SubsetInput()
    for codepoint in codepoints:
        options.unicode_set.add(codepoint)
    return uharfbuzz.subset(_hb_face(path, index), options).blob.data


def _font_face(fonts, urls, family, weight, path, index, codepoints):
    # Roles that name the same font (body and Kaiti by default) share the
    # subset made first for its file, face and weight.
    key = (path, index, weight)
    if key not in urls:
        urls[key] = f"{FONT_SCHEME}:{len(fonts)}"
        fonts[urls[key]] = _subset_font(path, index, codepoints)
    url = urls[key]
    return (
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
        f'src: url("{url}"); }}'
    )


def font_face_css(families, text, fonts):
    """Return @font-face rules with each role's font cut down to `text`,
    adding the font files to `fonts` ({URL: bytes}).

    Characters that no chosen font has go to subsets of the fallback
    fonts, each character to the first fallback that has it.
    """
    # Counters (page numbers) and list markers are not in the HTML text.
    wanted = {ord(char) for char in text} | set(range(0x20, 0x7F))
    rules = []
    urls = {}
    missing = set()
    for role in FONT_ROLES:
        for weight, bold in ((400, False), (700, True)):
            found = _font_file(families[role], bold)
            if found is None:
                continue
            covered = wanted & _coverage(*found)
            missing |= wanted - covered
            family = _subset_family(role)
            rules.append(_font_face(fonts, urls, family, weight, *found, covered))
    for number, family in enumerate(FALLBACK_FAMILIES):
        found = _font_file(family, False) if missing else None
        if found is None:
            continue
        covered = missing & _coverage(*found)
        if covered:
            family = _fallback_family(number)
            rules.append(_font_face(fonts, urls, family, 400, *found, covered))
            missing -= covered
    return "\n".join(rules)


def render_pdf(template, families, **context):
    """Render `template` with the fonts `families` ({role: family}) to PDF;
    return (bytes, page count).

    Raises RenderError when WeasyPrint fails, with the cause logged.
    """
    html = render_template(template, fonts=font_stacks(families), **context)
    fetcher = DocumentFetcher()
    try:
        font_config = FontConfiguration()
        fonts = CSS(
            string=font_face_css(families, html, fetcher.fonts),
            font_config=font_config,
            url_fetcher=fetcher,
        )
        document = HTML(string=html, url_fetcher=fetcher).render(
            stylesheets=[fonts], font_config=font_config
        )
        pdf = document.write_pdf(
            optimize_images=True, jpeg_quality=JPEG_QUALITY, dpi=PRINT_DPI
        )
    except Exception as error:  # WeasyPrint raises many kinds of errors.
        logger.exception("rendering %s failed", template)
        raise RenderError(str(error)) from error
    return pdf, len(document.pages)


def qr_data_uri(text):
    """Return an SVG QR code of `text` as a data: URL."""
    return segno.make(text, error="m").svg_data_uri(scale=4, border=2)


def picture_data_uri(path, width_mm, height_mm):
    """Return the image at `path`, scaled to print at PRINT_DPI in a box of
    `width_mm` x `height_mm`, as a JPEG data: URL."""
    box = (
        round(width_mm / 25.4 * PRINT_DPI),
        round(height_mm / 25.4 * PRINT_DPI),
    )
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail(box, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/jpeg;base64,{encoded}"


def page_image(pdf, dpi=150, page_index=0):
    """Return one page of `pdf` as JPEG bytes, for posting a notice online."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[page_index]
        bitmap = page.render(scale=dpi / 72)
        image = bitmap.to_pil().convert("RGB")
    finally:
        document.close()
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88, optimize=True)
    return buffer.getvalue()
