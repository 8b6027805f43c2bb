"""Reading untrusted files: size cap, strict UTF-8, bounded nesting, values and integers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.files import load_policy, read_text
from tierflow.statemachine import PolicyError, parse_policy
from tierflow.statemachine.inputs import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    InputError,
    load_json,
    load_yaml,
)


class TestReadText:
    def test_refuses_a_file_over_the_cap_before_reading_it_all(self, tmp_path: Path) -> None:
        """A 50 MiB (sparse) file is refused by size, naming the cap."""
        path = tmp_path / "big.yaml"
        with path.open("wb") as f:
            f.truncate(50 * 1024 * 1024)
        with pytest.raises(InputError, match=r"larger than 1 MiB"):
            read_text(path)

    def test_a_file_at_the_cap_is_read(self, tmp_path: Path) -> None:
        """Exactly the cap is allowed; one byte more is not."""
        path = tmp_path / "edge.txt"
        path.write_bytes(b"a" * MAX_FILE_BYTES)
        assert len(read_text(path)) == MAX_FILE_BYTES
        path.write_bytes(b"a" * (MAX_FILE_BYTES + 1))
        with pytest.raises(InputError):
            read_text(path)

    def test_names_the_offset_of_a_byte_that_is_not_utf8(self, tmp_path: Path) -> None:
        """Latin-1 text is refused with where the bad byte is."""
        path = tmp_path / "latin1.yaml"
        path.write_bytes("name: café".encode("latin-1"))
        with pytest.raises(InputError, match=r"not UTF-8 text \(invalid byte at offset 9\)"):
            read_text(path)


class TestJson:
    def test_depth_is_bounded(self) -> None:
        """One level past the bound is refused, as is a depth Python cannot parse."""
        load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH)
        for depth in (MAX_DEPTH + 1, 100_000):
            with pytest.raises(InputError, match="nested deeper than"):
                load_json("[" * depth + "]" * depth)

    def test_long_integers_are_refused(self) -> None:
        """A 5,000-digit number is a clear error, not Python's conversion limit."""
        with pytest.raises(InputError, match="5000 digits"):
            load_json('{"n": ' + "9" * 5_000 + "}")

    def test_syntax_errors_say_where(self) -> None:
        with pytest.raises(InputError, match=r"not valid JSON: .*\(line 1, column 2\)"):
            load_json("{")


class TestYaml:
    def test_alias_bomb_is_refused(self) -> None:
        """Aliases count as what they expand to: a billion values are refused at once."""
        lines = ["a: &a [1,1,1,1,1,1,1,1,1,1]"]
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
            lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
        with pytest.raises(InputError, match="more than 100000 values"):
            load_yaml("\n".join(lines))

    def test_aliases_within_bounds_are_fine(self) -> None:
        """Anchors and aliases themselves are allowed."""
        assert load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}

    def test_depth_through_an_alias_counts(self) -> None:
        """A shallow alias of a deep anchor is as deep as what it expands to."""
        deep = "[" * 20 + "1" + "]" * 20
        with pytest.raises(InputError, match=r"nested deeper than 32 levels \(line 2"):
            load_yaml(f"a: &a {deep}\nb: {'[' * 20}*a{']' * 20}\n")

    @pytest.mark.parametrize("value", ["9" * 31, "0x" + "f" * 40, "!!int " + "1" * 40])
    def test_long_integers_are_refused(self, value: str) -> None:
        with pytest.raises(InputError, match="at most 30 digits"):
            load_yaml(f"level: {value}\n")

    def test_long_strings_of_digits_in_quotes_are_text(self) -> None:
        assert load_yaml(f"id: '{'9' * 40}'\n") == {"id": "9" * 40}

    def test_unsafe_tags_and_bad_tagged_values_are_yaml_errors(self) -> None:
        for text in ("a: !!python/object/apply:os.system [x]", "a: !!int x", "a: b\x00"):
            with pytest.raises(InputError, match="not valid YAML"):
                load_yaml(text)


class TestPolicyFiles:
    def test_a_deep_policy_is_a_policy_error(self, tmp_path: Path) -> None:
        """What used to be a RecursionError is a PolicyError naming the file."""
        path = tmp_path / "deep.yaml"
        path.write_text("a: " + "[" * 5_000 + "]" * 5_000)
        with pytest.raises(PolicyError, match=r"deep.yaml: .*nest"):
            load_policy(path)

    def test_parse_policy_is_bounded_too(self) -> None:
        with pytest.raises(PolicyError, match="at most 30 digits"):
            parse_policy("name: " + "1" * 5_000)
