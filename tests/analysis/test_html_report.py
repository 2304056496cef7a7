"""The HTML report opened in headless Debian chromium: it renders without console errors,
its DOM holds the findings, and the screenshot is not blank."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from tests.analysis.test_analyze import DELETED


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed (scripts/install-system-deps.sh)"
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, timeout=120, check=True)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_html_report_renders_in_chromium(build, wharfie, tmp_path):
    tag = build("gone:1", "RUN head -c 2000000 /dev/urandom > /x && echo k > /k\nRUN rm /x\n"
                + DELETED)
    page = tmp_path / "report.html"
    wharfie("image", "analyze", tag, "--format", "html", "-o", str(page))
    text = page.read_text()
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")

    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    html = dom.stdout.decode()
    assert 'id="findings"' in html and html.count('class="finding"') == 2
    assert "/big.bin added in layer 3, removed in layer 4" in html
    assert "in the same RUN that creates it" in html
    assert html.count('class="layer') == 5 and 'id="treemap"' in html
    console = [line for line in dom.stderr.decode().splitlines() if ":CONSOLE" in line]
    assert not console, console

    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1100,900", page.as_uri())
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1100, 900)
    colours = {row[i:i + 3] for row in rows[::8] for i in range(0, len(row), 3 * 8)}
    assert len(colours) > 5, "the screenshot is blank"
