"""RunDir's CSV tables: numbers as a person would write them, without float32 noise."""

from __future__ import annotations

import csv
import struct

import numpy as np
import pytest
import torch

from bilin.rundir import RunDir, csv_number


def as_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def test_a_float32_value_is_written_as_its_shortest_decimal(tmp_path):
    accuracy = torch.tensor(0.89, dtype=torch.float32).item()  # 0.8899999856948853
    assert accuracy != 0.89
    RunDir(tmp_path).write_csv("t.csv", [{"epoch": 1, "val_acc": accuracy, "name": "bilinear"}])
    assert (tmp_path / "t.csv").read_text() == "epoch,val_acc,name\n1,0.89,bilinear\n"


@pytest.mark.parametrize(
    "value,written",
    [
        (0.1 + 0.2, "0.30000000000000004"),  # float64: exact, as Python writes it
        (2 / 3, "0.6666666666666666"),
        (1.0, "1.0"),
        (0.5, "0.5"),
        (float(np.float32(1e-7)), "1e-07"),
        (float(np.float32(98.21)), "98.21"),
        (float(np.float32(123456.78)), "123456.78"),
        (1e300, "1e+300"),  # beyond float32's range: left alone
        (float("nan"), "nan"),
    ],
)
def test_float64_stays_exact_and_float32_loses_its_noise(value, written):
    assert str(csv_number(value)) == written


def test_every_float32_of_a_tensor_reads_back_exactly(tmp_path):
    values = torch.randn(2000, generator=torch.Generator().manual_seed(0)).mul(10.0 ** torch.arange(2000).remainder(9))
    rows = [{"v": v} for v in values.tolist()]
    RunDir(tmp_path).write_csv("t.csv", rows)
    with (tmp_path / "t.csv").open() as f:
        cells = [row["v"] for row in csv.DictReader(f)]
    assert [as_float32(float(c)) for c in cells] == values.tolist()
    assert max(len(significant_digits(c)) for c in cells) <= 9  # never float64's 17


def significant_digits(cell: str) -> str:
    return cell.split("e")[0].replace("-", "").replace(".", "").strip("0")


def test_non_numbers_pass_through(tmp_path):
    RunDir(tmp_path).write_csv("t.csv", [{"a": True, "b": None, "c": 7, "d": "x,y"}])
    assert (tmp_path / "t.csv").read_text() == 'a,b,c,d\nTrue,,7,"x,y"\n'
