"""gk.render_graph: a path it cannot write raises a GradkitError naming the path (also an OSError)."""

from __future__ import annotations

import os

import pytest

import gradkit as gk
from gradkit.viz import GraphFileError


def _graph():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    return (x * x).sum()


@pytest.mark.parametrize("name", ["g.dot", "g.gv"])
def test_a_missing_folder_names_the_path(tmp_path, name):
    path = os.path.join(tmp_path, "nope", name)
    with pytest.raises(GraphFileError, match=r"render_graph: cannot write '.*nope.*'") as info:
        gk.render_graph(_graph(), path)
    assert isinstance(info.value, gk.InvalidArgumentError) and isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_a_folder_in_place_of_the_file_is_refused(tmp_path):
    path = os.path.join(tmp_path, "taken.dot")
    os.mkdir(path)
    with pytest.raises(gk.InvalidArgumentError, match="taken.dot"):
        gk.render_graph(_graph(), path)
