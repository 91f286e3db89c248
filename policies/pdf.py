"""A minimal PDF writer (one font, text, filled rectangles, lines), enough for a factsheet."""

from __future__ import annotations


def _escape(text: str) -> str:
    data = text.encode("cp1252", errors="replace").decode("latin-1")
    return data.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


class Page:
    """Drawing commands of one A4 page (595 x 842 points, origin bottom left)."""

    width, height = 595, 842

    def __init__(self) -> None:
        self.ops: list[str] = []

    def text(self, x: float, y: float, text: str, size: float = 10, bold: bool = False) -> None:
        font = "F2" if bold else "F1"
        self.ops.append(f"BT /{font} {size:g} Tf {x:.2f} {y:.2f} Td ({_escape(text)}) Tj ET")

    def rect(self, x: float, y: float, w: float, h: float, gray: float = 0.5) -> None:
        self.ops.append(f"{gray:.2f} g {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f 0 g")

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.ops.append(f"0.5 w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")


def write_pdf(pages: list[Page], title: str = "") -> bytes:
    """Serialise pages into PDF bytes (deterministic: no dates, no ids)."""
    objects: list[bytes] = []
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    for i, page in enumerate(pages):
        stream = "\n".join(page.ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page.width} {page.height}] "
                       f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {6 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = len(objects) + 1
    objects.append(f"<< /Title ({_escape(title)}) /Producer (ttp) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
