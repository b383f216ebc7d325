"""Offline OCR with RapidOCR: the PP-OCRv4 Chinese models ship inside its wheel.

Nothing is downloaded: the ONNX models and the character list are read from the installed
``rapidocr_onnxruntime`` package. One engine is created lazily per process and shared by all
threads; inference is serialised because ONNX Runtime already uses every core.

Pages photographed or scanned sideways or upside down are turned upright before they are read
(see ``OcrEngine.read``): the shape of the detected text lines tells sideways from upright,
and RapidOCR's text-line angle classifier tells upright from upside down.
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
    #: One detected line: its points in full-size image coordinates and its straightened crop.
    _Line: TypeAlias = tuple[np.ndarray, np.ndarray]

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

    Orientation (bench/ocr.py also reads the pages turned): CPU s/page upright 1.02, the same
    as with detect_orientation off (the angle classifier on 6 lines takes ~10 ms); turned 90°
    1.31, 180° 1.52 (the detection runs again and 3 lines are read both ways before a page
    is turned upside down), 270° 1.38; accuracy 0.9993 in all four. 45 upright corpus pages
    (all PDFs' first 2 pages and the photos) were all left as they were; of the same pages
    turned 90°/180°/270°, 131 of 133 were turned back and read as upright (a 12-character
    title on a 1772 x 3347 pt poster was not detected at all once sideways).
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
    # Turn pages that lie sideways or upside down upright before reading them. On upright
    # pages this costs one run of the angle classifier on a few lines (~10 ms of ~800).
    detect_orientation: bool = True
    orientation_sample: int = 6  # lines (the longest) the angle classifier looks at


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


class OcrResult(NamedTuple):
    """The lines read from an image and how the image was turned to read them.

    ``rotation`` is 0, 90, 180 or 270: the clockwise turn (degrees) that made the image
    upright; the boxes' points are in the coordinates of the turned image.
    """

    boxes: list[OcrBox]
    rotation: int = 0


class OcrText(NamedTuple):
    """Reading-order text of an image and the clockwise turn applied to read it."""

    text: str
    rotation: int = 0


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
        return self.read(image).boxes

    def read(self, image: ImageInput) -> OcrResult:
        """Turn the image upright if it lies sideways or upside down, then read its lines."""
        import cv2

        img = _to_bgr(image)
        h, w = img.shape[:2]
        if min(h, w) < 4:  # nothing readable, and the detector's resizing would fail
            return OcrResult([], 0)
        if max(h, w) > self.settings.max_side:
            f = self.settings.max_side / max(h, w)
            img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        rotation = 0
        with self._lock:
            lines = self._detect(img)
            if self.settings.detect_orientation and lines:
                turn = self._orientation(lines)
                if turn:
                    # detect again on the turned page: the boxes found on upside-down text
                    # are a little off and cost 1-7 % accuracy when merely turned with it
                    again = self._detect(_rotate(img, turn))
                    # a sideways verdict stands if the turned page shows mostly wide lines
                    shapes = [_line_shape(pts) for pts, _ in again]
                    if turn == 180 or shapes.count(_WIDE) > shapes.count(_TALL):
                        lines, rotation = again, turn
            boxes: list[OcrBox] = []
            for pts, crop in lines:
                result, _ = self._rapid(
                    crop, use_det=False, use_cls=self.settings.use_angle_cls, use_rec=True
                )
                if not result:
                    continue
                text, score = result[0][0], float(result[0][1])
                if text.strip() and score >= self.settings.text_score:
                    points = tuple((float(x), float(y)) for x, y in pts)
                    boxes.append(OcrBox(points, text.strip(), score))
        return OcrResult(boxes, rotation)

    def _detect(self, img: np.ndarray) -> list[_Line]:
        """The text lines of a BGR image: detection on a reduced copy, full-size crops."""
        import cv2
        import numpy as np

        h, w = img.shape[:2]
        scale = min(1.0, self.settings.det_max_side / max(h, w))
        det_img = (
            img
            if scale == 1.0
            else cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        quads, _ = self._rapid(det_img, use_det=True, use_cls=False, use_rec=False)
        lines: list[_Line] = []
        for quad in quads or ():
            pts = np.asarray(quad, dtype=np.float32) / scale
            crop = _crop_quad(img, pts)
            if crop is not None:
                lines.append((pts, crop))
        return lines

    def _orientation(self, lines: Sequence[_Line]) -> int:
        """Clockwise turn (0, 90, 180, 270) that would make the page of these lines upright.

        Lines of a page lying sideways are tall; ``_crop_quad`` turns tall crops a quarter
        counter-clockwise, which leaves them upright or upside down. The angle classifier
        then votes on the longest crops of the dominant shape: upside-down wide lines mean a
        page upside down (checked once more by the recogniser's confidence, as a wrong turn
        would lose the page's text); tall lines mean a quarter turn one way or the other.
        """
        shapes = [_line_shape(pts) for pts, _ in lines]
        sideways = shapes.count(_TALL) > shapes.count(_WIDE)
        want = _TALL if sideways else _WIDE
        crops = [crop for (_, crop), shape in zip(lines, shapes, strict=True) if shape == want]
        crops.sort(key=lambda c: c.shape[1], reverse=True)
        sample = crops[: self.settings.orientation_sample]
        if not sample:
            return 0
        _, votes, _ = self._rapid.text_cls(sample)
        # mean of +score for "upside down", -score for "upright": -1 .. 1
        flipped = sum(score if "180" in label else -score for label, score in votes) / len(votes)
        if sideways:
            return 90 if flipped > 0 else 270
        if flipped <= 0.5:
            return 0
        check = sample[:3]
        upright = self._mean_rec_score(check)
        turned = self._mean_rec_score([_rotate(c, 180) for c in check])
        return 180 if turned > upright else 0

    def _mean_rec_score(self, crops: Sequence[np.ndarray]) -> float:
        total = 0.0
        for crop in crops:
            result, _ = self._rapid(crop, use_det=False, use_cls=False, use_rec=True)
            if result:
                total += float(result[0][1])
        return total / len(crops) if crops else 0.0

    def image_to_text(self, image: ImageInput) -> str:
        """Recognise an image and return its lines in reading order, one per line."""
        return self.read_text(image).text

    def read_text(self, image: ImageInput) -> OcrText:
        """Recognise an image: its lines in reading order and the turn applied to read it."""
        result = self.read(image)
        return OcrText(lines_to_text(order_lines(result.boxes)), result.rotation)


def _rotate(img: np.ndarray, clockwise: int) -> np.ndarray:
    """The image turned clockwise by 90, 180 or 270 degrees."""
    import cv2

    codes = {
        90: cv2.ROTATE_90_CLOCKWISE,
        180: cv2.ROTATE_180,
        270: cv2.ROTATE_90_COUNTERCLOCKWISE,
    }
    return cv2.rotate(img, codes[clockwise])


# A detected line is wide or tall when one side is this many times the other: tall lines are
# read turned on their side, and a page whose tall lines outnumber its wide ones lies sideways.
LINE_ASPECT = 1.5
_WIDE, _TALL, _SQUARE = "wide", "tall", "square"


def _line_shape(pts: np.ndarray) -> str:
    """Whether a detected quadrilateral is wide, tall or neither (a single character)."""
    import numpy as np

    width = max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2]))
    height = max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))
    if width >= LINE_ASPECT * height:
        return _WIDE
    if height >= LINE_ASPECT * width:
        return _TALL
    return _SQUARE


def _rebuild_sessions_without_spinning(rapid: RapidOCR, threads: int) -> None:
    """Replace RapidOCR's ONNX sessions with ones whose threads sleep instead of spinning.

    RapidOCR builds its ``SessionOptions`` internally with no way to pass config entries, so
    the sessions are created again from the same model files. Where the wrapper attributes
    differ (another RapidOCR version) the original sessions are kept.
    """
    import onnxruntime as ort

    components = ((rapid.text_det, "infer"), (rapid.text_cls, "infer"), (rapid.text_rec, "session"))
    for component, attr in components:
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


def ocr_page(image: ImageInput) -> OcrText:
    """Like ``ocr_image``, with the clockwise turn (0/90/180/270) that made the page upright."""
    return get_engine().read_text(image)


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
    if _line_shape(pts) == _TALL:  # a vertical line of text: read it turned on its side
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
