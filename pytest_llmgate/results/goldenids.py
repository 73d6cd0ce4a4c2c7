"""The golden row ids of a streamed item, packed: what `storedrows.RowColumns` keeps per row id.

A million ids as `str` objects in a list, indexed by a dict while rows come in, cost ~190 bytes a
row (the id ~57, its list slot 8, the dict entry and its int ~70). `GoldenIds` keeps each id's
UTF-8 bytes in one `bytearray` with its end offset (~8 bytes plus the id's length), and tells a
new id from a repeat with the id's hash in an open-addressing `array('q')` table (16-32 bytes a
row, dropped by `seal()`). A hash seen before is either a repeat or a collision: from then on an
exact dict decides (rows arrive in job order, so repeats of one golden row come one after the
other and take the fast path without any lookup).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

__all__ = ["GoldenIds"]

_ERRORS = "surrogatepass"  # ids from JSON may hold lone surrogates
_START = 64


class GoldenIds(Sequence[str]):
    """Golden row ids in first-seen order; `unit_of(id)` gives an id's index, adding a new one."""

    __slots__ = ("_blob", "_ends", "_exact", "_last", "_table", "_used")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("q")
        self._last: str | None = None  # the id added last: its repeats need no lookup
        self._table: array[int] | None = array("q", bytes(8 * _START))
        self._used = 0
        self._exact: dict[str, int] | None = None

    def unit_of(self, row_id: str) -> int:
        """The index of golden row `row_id`: its own when seen before, else a new one."""
        if row_id == self._last:
            return len(self._ends) - 1
        exact = self._exact
        if exact is not None:
            unit = exact.get(row_id)
            if unit is None:
                unit = exact[row_id] = self._append(row_id)
            return unit
        if self._table is None:  # sealed, and more rows: index the ids again
            self._reindex()
        if self._seen_or_insert(hash(row_id) or 1):  # a repeat (or a collision): exact from now
            self._exact = {uid: i for i, uid in enumerate(self)}
            self._table = None
            return self.unit_of(row_id)
        return self._append(row_id)

    def seal(self) -> None:
        """No more ids for now: drop the index only `unit_of` needs."""
        self._table = None
        self._exact = None
        self._used = 0

    def _append(self, row_id: str) -> int:
        self._blob += row_id.encode("utf-8", _ERRORS)
        self._ends.append(len(self._blob))
        self._last = row_id
        return len(self._ends) - 1

    def _reindex(self) -> None:
        size = _START
        while size < 2 * len(self._ends) + 2:
            size *= 2
        self._table = array("q", bytes(8 * size))
        self._used = 0
        for uid in self:
            self._seen_or_insert(hash(uid) or 1)

    def _seen_or_insert(self, key: int) -> bool:
        """True when `key` is in the table, else insert it (linear probing; 0 marks empty)."""
        table = self._table
        assert table is not None
        mask = len(table) - 1
        slot = key & mask
        while True:
            found = table[slot]
            if found == 0:
                table[slot] = key
                self._used += 1
                if 2 * self._used > len(table):
                    self._grow()
                return False
            if found == key:
                return True
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        old = self._table
        assert old is not None
        self._table = array("q", bytes(16 * len(old)))
        self._used = 0
        for key in old:
            if key:
                self._seen_or_insert(key)

    def __len__(self) -> int:
        return len(self._ends)

    def _decode(self, index: int) -> str:
        start = self._ends[index - 1] if index else 0
        return self._blob[start : self._ends[index]].decode("utf-8", _ERRORS)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self._decode(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._decode(index)

    def __iter__(self) -> Iterator[str]:
        blob, start = self._blob, 0
        for end in self._ends:
            yield blob[start:end].decode("utf-8", _ERRORS)
            start = end

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GoldenIds):
            return self._ends == other._ends and self._blob == other._blob
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GoldenIds({len(self)} ids)"
