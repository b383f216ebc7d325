"""Safe reading of uploaded ZIP archives.

Staff zip folders on Chinese Windows: member names are CP936/GBK bytes without the UTF-8
flag, which Python's zipfile decodes as CP437 (mojibake). Names are decoded properly here;
archives that could hurt the server (bombs, traversal, links) are refused whole, before
anything is stored.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, BinaryIO, cast

import charset_normalizer

UTF8_FLAG = 0x800


class ArchiveRefusedError(ValueError):
    """The archive is refused as a whole; the message (Chinese) says why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_total_bytes: int = 2 * 1024**3
    max_members: int = 10_000
    max_ratio: int = 200  # uncompressed / compressed, per member and overall
    max_member_bytes: int = 200 * 1024**2


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    name: str  # decoded relative path, '/'-separated (inner.zip/file.pdf inside a nested ZIP)
    size: int
    source: zipfile.ZipFile | None = None  # the nested ZIP it is in; None: the archive itself


class Archive(zipfile.ZipFile):
    """A checked ZIP; closing it closes the ZIPs nested in it and their spooled copies."""

    _nested: list[IO[bytes]] | None = None

    def close(self) -> None:
        for item in reversed(self._nested or ()):
            item.close()
        self._nested = None
        super().close()


@dataclass
class _Budget:
    """What an archive has used of its limits so far, across its nested ZIPs too."""

    members: int = 0
    total: int = 0


def _raw_name(info: zipfile.ZipInfo) -> bytes | None:
    """The name's bytes as stored, for a member without the UTF-8 flag (zipfile read them
    as CP437); None when flagged."""
    if info.flag_bits & UTF8_FLAG:
        return None
    try:
        return info.filename.encode("cp437")
    except UnicodeEncodeError:
        return None


def names_encoding(infos: list[zipfile.ZipInfo]) -> str:
    """The encoding of an archive's unflagged names, judged over all of them together."""
    return legacy_encoding([raw for raw in map(_raw_name, infos) if raw])


def legacy_encoding(raws: list[bytes]) -> str:
    """The encoding of names written by a program that does not say: UTF-8 when every name
    is valid UTF-8, else GBK (Simplified Chinese Windows) or Big5 (Traditional Chinese
    Windows), whichever reads the names, judged together, as text."""
    joined = b"\n".join(raws)
    try:
        joined.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(joined, cp_isolation=["gb18030", "big5"]).best()
    return best.encoding if best is not None else "gb18030"


def decode_member_name(info: zipfile.ZipInfo, encoding: str = "gb18030") -> str:
    """The member's real name: as flagged (UTF-8), else in the archive's ``encoding``."""
    raw = _raw_name(info)
    if raw is None:
        return info.filename
    for candidate in (encoding, "utf-8", "gb18030"):
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    return info.filename


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _check_name(name: str) -> str | None:
    """Why this member name is unsafe, or None."""
    if "\x00" in name:
        return "文件名含空字符"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "使用了绝对路径"
    if any(part == ".." for part in PurePosixPath(normalized).parts):
        return "路径含“..”（试图写到压缩包目录之外）"
    return None


def open_archive(stream: BinaryIO | str, limits: ArchiveLimits) -> tuple[Archive, list[Member]]:
    """Open and check a ZIP; returns the file members to extract, or raises ArchiveRefusedError.

    A ZIP inside it (one level) is unpacked too, its members named ``inner.zip/file.pdf``;
    the limits count across both levels (members, total size, and the ratio of everything
    unpacked to the outer archive's compressed bytes). A ZIP nested deeper is refused."""
    try:
        archive = Archive(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ArchiveRefusedError("压缩包已损坏，无法打开") from e
    archive._nested = []
    try:
        budget = _Budget()
        members = _check_members(archive, limits, budget, outer=archive)
        compressed = sum(i.compress_size for i in archive.infolist() if not i.is_dir())
        if budget.total > 1024**2 and budget.total > limits.max_ratio * max(compressed, 1):
            raise ArchiveRefusedError("压缩包整体压缩比异常（疑似压缩炸弹），已拒收")
        return archive, members
    except BaseException:
        archive.close()
        raise


def _check_members(
    archive: zipfile.ZipFile,
    limits: ArchiveLimits,
    budget: _Budget,
    *,
    outer: Archive,
    prefix: str = "",
) -> list[Member]:
    """Check one level's members against the limits (what is left of them); the file members,
    with the members of nested ZIPs (``prefix`` set: this is one already)."""
    infos = archive.infolist()
    budget.members += len(infos)
    if budget.members > limits.max_members:
        raise ArchiveRefusedError(
            f"压缩包内文件过多（{budget.members} 个，上限 {limits.max_members} 个）"
        )
    members: list[Member] = []
    encoding = names_encoding(infos)
    for info in infos:
        name = prefix + decode_member_name(info, encoding)
        problem = _check_name(name)
        if problem:
            raise ArchiveRefusedError(f"压缩包内“{_printable(name)}”{problem}，整个压缩包已拒收")
        if _is_symlink(info):
            raise ArchiveRefusedError(f"压缩包内“{_printable(name)}”是符号链接，整个压缩包已拒收")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ArchiveRefusedError(f"压缩包内“{_printable(name)}”已加密，请解密后重新打包")
        if info.file_size > limits.max_member_bytes:
            raise ArchiveRefusedError(
                f"压缩包内“{_printable(name)}”解压后过大（{info.file_size // 1024**2} MB）"
            )
        if info.file_size > 1024**2 and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise ArchiveRefusedError(
                f"压缩包内“{_printable(name)}”压缩比异常（疑似压缩炸弹），整个压缩包已拒收"
            )
        nested = _nested_zip(archive, info, name, outer) if name.lower().endswith(".zip") else None
        if nested is not None:
            if prefix:
                raise ArchiveRefusedError(
                    f"压缩包内“{_printable(name)}”是第二层嵌套的压缩包（只展开一层），"
                    "请解压后重新打包，整个压缩包已拒收"
                )
            members += _check_members(
                nested, limits, budget, outer=outer, prefix=_relative(name) + "/"
            )
            continue
        budget.total += info.file_size
        if budget.total > limits.max_total_bytes:
            raise ArchiveRefusedError(
                f"压缩包解压后总大小超过上限（{limits.max_total_bytes // 1024**2} MB）"
            )
        members.append(
            Member(
                info=info,
                name=_relative(name),
                size=info.file_size,
                source=None if archive is outer else archive,
            )
        )
    return members


def _nested_zip(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, outer: Archive
) -> zipfile.ZipFile | None:
    """The ZIP a member holds, read from a spooled copy (kept until ``outer`` closes); None
    when the member is not a ZIP after all (it is stored as a file)."""
    copy = tempfile.SpooledTemporaryFile(max_size=8 * 1024**2)  # noqa: SIM115 - closed by outer
    assert outer._nested is not None
    outer._nested.append(copy)
    try:
        with archive.open(info) as member:
            shutil.copyfileobj(member, copy, 1024**2)
        copy.seek(0)
        if not is_zip(copy.read(4)):
            return None
        copy.seek(0)
        nested = zipfile.ZipFile(copy)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ArchiveRefusedError(
            f"压缩包内的压缩包“{_printable(name)}”已损坏，无法打开，整个压缩包已拒收"
        ) from e
    outer._nested.append(cast(IO[bytes], nested))
    return nested


def iter_member_streams(
    archive: zipfile.ZipFile, members: list[Member]
) -> Iterator[tuple[Member, BinaryIO]]:
    """Open each member in turn; sizes beyond the declared ones fail inside zipfile (bad CRC)."""
    for member in members:
        with (member.source or archive).open(member.info) as stream:
            # ZipFile.open is typed as IO[bytes]; the ZipExtFile it returns is a binary stream
            yield member, cast(BinaryIO, stream)


def _relative(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _printable(name: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name)
    return cleaned[:120]


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")
