"""Offline OCR with RapidOCR: the PP-OCRv4 Chinese models ship inside its wheel.

Nothing is downloaded: the ONNX models and the character list are read from the installed
``rapidocr_onnxruntime`` package. One engine is created lazily per process and shared by all
threads; inference is serialised because ONNX Runtime already uses every core.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
    from rapidocr_onnxruntime import RapidOCR

    #: What the OCR functions accept: a PIL image, a grayscale/RGB(A) array or a file path.
    ImageInput: TypeAlias = Image.Image | np.ndarray | str | Path

# numpy, OpenCV and the models load on the first OCR: a worker that only reads text layers
# never pays their memory (numpy alone is about 15 MB of RSS).


@dataclass(frozen=True, slots=True)
class OcrSettings:
    """Tuning knobs of the OCR pipeline; the defaults are the measured best (bench/ocr.py).

    Measured with bench/ocr.py on derived__fzu_撰写规范_p1-3_scanlike.pdf (3 A4 pages
    rendered at 150 dpi, grayscale) on a 2-core AMD EPYC VM; accuracy = 1 - edit distance /
    length over CJK + alphanumeric characters, all pages together:

      wall s/page (accuracy)                    quiet machine   busy machine (load 5-7)
      RapidOCR as shipped (cls on, batch 6,
        rec height 48, det at full size)        5.6 (99.86 %)   27.9
      cls off, 2 threads, batch 1               4.0 (99.86 %)    9.0
      + rec height 32                           2.6 (99.86 %)    6.6
      + detection on a 960 px copy              1.6 (99.93 %)    3.5 (99.93 %)
    The quiet column was measured with ONNX Runtime's default spin-waiting, the busy column
    without it (see spin_wait; with it the last row takes 8.3 s/page when busy).
    """

    # Detection runs on a copy whose long side is at most this many pixels; the boxes are
    # scaled back and recognition reads the full-resolution crops.
    det_max_side: int = 960
    # PP-OCRv4 recognition is trained on 48 px high lines; 32 px is ~2.2x cheaper and was
    # just as accurate on 150 dpi pages (the cost is linear in height x width).
    rec_height: int = 32
    # The angle classifier only helps with upside-down lines; scans are upright.
    use_angle_cls: bool = False
    det_thresh: float = 0.3
    det_box_thresh: float = 0.5
    det_unclip_ratio: float = 1.6
    text_score: float = 0.5  # drop recognised lines below this confidence
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = os.cpu_count()
    # ONNX Runtime's worker threads busy-wait between operators by default. On a machine
    # shared with the web app and other jobs that burns the CPU others need: with spinning
    # off the scan-like pages took 4.8 instead of 9.0 s/page and 2.6 instead of 4.2 CPU s
    # at a load of 6.5 on 2 cores (bench/ocr.py --compare shows both).
    spin_wait: bool = False
    max_side: int = 2000  # larger images (phone photos) are scaled down first


DEFAULT_SETTINGS = OcrSettings()

log = logging.getLogger(__name__)


class OcrBox(NamedTuple):
    """One recognised text line: its quadrilateral (4 x/y points), text and confidence."""

    points: tuple[tuple[float, float], ...]
    text: str
    score: float

    @property
    def top(self) -> float:
        return min(p[1] for p in self.points)

    @property
    def bottom(self) -> float:
        return max(p[1] for p in self.points)

    @property
    def left(self) -> float:
        return min(p[0] for p in self.points)


class OcrEngine:
    """RapidOCR with the detection / recognition split that makes it fast on CPU."""

    def __init__(self, settings: OcrSettings = DEFAULT_SETTINGS) -> None:
        from rapidocr_onnxruntime import RapidOCR  # heavy import (onnxruntime, cv2): lazy

        self.settings = settings
        threads = settings.threads or os.cpu_count() or 1
        self._rapid = RapidOCR(
            use_cls=settings.use_angle_cls,
            text_score=settings.text_score,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            # the detector must not scale our already scaled copy back up (its default
            # "min 736" rule would undo det_max_side)
            det_limit_type="min",
            det_limit_side_len=min(736, settings.det_max_side // 2),
            det_thresh=settings.det_thresh,
            det_box_thresh=settings.det_box_thresh,
            det_unclip_ratio=settings.det_unclip_ratio,
            # each line is recognised on its own (see recognize): batches of 1 were the
            # fastest on CPU, 110 vs 150 us per input column for batches of 6 (2 threads)
            rec_batch_num=1,
            rec_img_shape=[3, settings.rec_height, 320],
        )
        if not settings.spin_wait:
            _rebuild_sessions_without_spinning(self._rapid, threads)
        self._lock = threading.Lock()

    def recognize(self, image: ImageInput) -> list[OcrBox]:
        """Detect and read the text lines of an image (PIL image, array, or path)."""
        import cv2

        img = _to_bgr(image)
        h, w = img.shape[:2]
        if min(h, w) < 4:  # nothing readable, and the detector's resizing would fail
            return []
        if max(h, w) > self.settings.max_side:
            f = self.settings.max_side / max(h, w)
            img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
        scale = min(1.0, self.settings.det_max_side / max(h, w))
        det_img = (
            img
            if scale == 1.0
            else cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        import numpy as np

        boxes: list[OcrBox] = []
        with self._lock:
            quads, _ = self._rapid(det_img, use_det=True, use_cls=False, use_rec=False)
            for quad in quads or ():
                pts = np.asarray(quad, dtype=np.float32) / scale
                crop = _crop_quad(img, pts)
                if crop is None:
                    continue
                result, _ = self._rapid(
                    crop, use_det=False, use_cls=self.settings.use_angle_cls, use_rec=True
                )
                if not result:
                    continue
                text, score = result[0][0], float(result[0][1])
                if text.strip() and score >= self.settings.text_score:
                    points = tuple((float(x), float(y)) for x, y in pts)
                    boxes.append(OcrBox(points, text.strip(), score))
        return boxes

    def image_to_text(self, image: ImageInput) -> str:
        """Recognise an image and return its lines in reading order, one per line."""
        return lines_to_text(order_lines(self.recognize(image)))


def _rebuild_sessions_without_spinning(rapid: RapidOCR, threads: int) -> None:
    """Replace RapidOCR's ONNX sessions with ones whose threads sleep instead of spinning.

    RapidOCR builds its ``SessionOptions`` internally with no way to pass config entries, so
    the sessions are created again from the same model files. Where the wrapper attributes
    differ (another RapidOCR version) the original sessions are kept.
    """
    import onnxruntime as ort

    for component, attr in ((rapid.text_det, "infer"), (rapid.text_rec, "session")):
        wrapper = getattr(component, attr, None)
        old = getattr(wrapper, "session", None)
        model = getattr(old, "_model_path", None)
        if wrapper is None or not isinstance(old, ort.InferenceSession) or not model:
            log.debug("RapidOCR internals changed: ONNX sessions keep spin-waiting")
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 4
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        wrapper.session = ort.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )


def order_lines(boxes: Sequence[OcrBox]) -> list[list[OcrBox]]:
    """Group boxes into lines (vertical overlap), top to bottom, each line left to right.

    A box joins the current line when it overlaps the line's vertical span by at least half
    of the smaller of the two heights; slightly rotated scans still group correctly because
    each box is compared with the line's running span, not with the first box only.
    """
    lines: list[list[OcrBox]] = []
    span: tuple[float, float] | None = None
    for box in sorted(boxes, key=lambda b: ((b.top + b.bottom) / 2, b.left)):
        if span is not None:
            overlap = min(span[1], box.bottom) - max(span[0], box.top)
            smaller = min(span[1] - span[0], box.bottom - box.top)
            if smaller > 0 and overlap >= 0.5 * smaller:
                lines[-1].append(box)
                span = (min(span[0], box.top), max(span[1], box.bottom))
                continue
        lines.append([box])
        span = (box.top, box.bottom)
    for line in lines:
        line.sort(key=lambda b: b.left)
    return lines


def lines_to_text(lines: Sequence[Sequence[OcrBox]]) -> str:
    """Boxes of one line joined by a space, lines joined by newlines."""
    return "\n".join(" ".join(box.text for box in line) for line in lines)


_engine: OcrEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> OcrEngine:
    """The process-wide OCR engine, created on first use (loading the models takes ~0.3 s)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = OcrEngine()
    return _engine


def ocr_image(image: ImageInput) -> str:
    """OCR one image (PIL image, grayscale/RGB array, or file path) into reading-order text."""
    return get_engine().image_to_text(image)


def _to_bgr(image: ImageInput) -> np.ndarray:
    """Any supported image as a contiguous 8-bit BGR array (what the models expect)."""
    import cv2
    import numpy as np
    from PIL import Image

    if isinstance(image, str | Path):
        with Image.open(image) as im:
            image = im.convert("RGB")
    if isinstance(image, Image.Image):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        arr = np.asarray(image)
        if arr.ndim == 3:
            return np.ascontiguousarray(arr[:, :, ::-1])  # RGB -> BGR
        image = arr
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got {arr.dtype}")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    raise ValueError(f"unsupported image shape {arr.shape}")


def _crop_quad(img: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    """Straighten the quadrilateral ``pts`` (tl, tr, br, bl) out of ``img``."""
    import cv2
    import numpy as np

    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    if width < 2 or height < 2:
        return None
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts.astype(np.float32), target)
    crop = cv2.warpPerspective(
        img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height >= 1.5 * width:  # a vertical line of text: read it turned on its side
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def char_accuracy(reference: str, hypothesis: str) -> float:
    """1 - edit distance / reference length over CJK and alphanumeric characters.

    Whitespace and punctuation are ignored, so line breaks and full/half-width commas do not
    count; this is the measure the OCR settings were tuned on.
    """
    ref = [c for c in reference if c.isalnum()]
    hyp = [c for c in hypothesis if c.isalnum()]
    if not ref:
        return 1.0 if not hyp else 0.0
    return max(0.0, 1.0 - edit_distance(ref, hyp) / len(ref))


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance (insert, delete, substitute each cost 1), two rows of memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
