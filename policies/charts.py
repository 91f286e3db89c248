"""Pages drawn with matplotlib (Agg, no pyplot state) and written as deterministic PDF or PNG bytes."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # never a GUI backend, whatever the environment says

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

A4 = (8.27, 11.69)  # inches, portrait
INK, MUTED, ACCENT, LIGHT = "#1f2933", "#616e7c", "#1c6fb8", "#d9e2ec"
# One colour per comparison line, the school always the accent colour.
SERIES = {"school": ACCENT, "board": "#e07b39", "municipality": "#3f9c35", "province": "#7b5ea7"}

matplotlib.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 9, "axes.edgecolor": MUTED, "axes.labelcolor": INK,
    "xtick.color": MUTED, "ytick.color": MUTED, "axes.spines.top": False, "axes.spines.right": False,
    "svg.hashsalt": "ttp",
    # PDF text in the standard Helvetica every reader has: nothing to embed, so no font subsetting per
    # file (it took two thirds of a report's time), and the words stay copyable
    "pdf.use14corefonts": True,
})
# DejaVu Sans (for PNG) is no PDF core font: the PDF falls back to Helvetica, as meant, without a warning
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def page() -> Figure:
    """An empty A4 page (a Figure not registered with pyplot, so nothing leaks between calls)."""
    fig = Figure(figsize=A4)
    FigureCanvasAgg(fig)
    return fig


def pdf_bytes(pages: Sequence[Figure], title: str = "") -> bytes:
    """The pages as one PDF; no creation date, so the same pages give the same bytes."""
    buffer = io.BytesIO()
    metadata = {"Title": title, "Producer": "ttp", "Creator": "ttp", "CreationDate": None}
    with PdfPages(buffer, metadata=metadata) as pdf:
        for fig in pages:
            pdf.savefig(fig)
    return buffer.getvalue()


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """One page as PNG (no timestamp in the file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
