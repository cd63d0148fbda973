"""Class names: string labels to class ids, and class ids to the ``classes`` predictions.

TensorFlow's classification heads look labels up in a hash table built from
``label_vocabulary`` and turn predicted ids back into strings. PyTorch has no string tensors,
so both directions run in numpy, vectorised: a sorted copy of the vocabulary and
``np.searchsorted`` map a whole batch of labels at once, and fancy indexing maps ids to names.
Unlike TensorFlow (which returned ``bytes``), names are Python ``str`` in numpy unicode arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import message


def vocabulary_problems(label_vocabulary: Any, n_classes: int | None) -> list[str]:
    """What is wrong with a head's ``label_vocabulary`` (empty when it is None or valid).

    Example:
        >>> vocabulary_problems(["no", "yes"], 2)
        []
        >>> len(vocabulary_problems("no,yes", 2))
        1
    """
    if label_vocabulary is None:
        return []
    if not isinstance(label_vocabulary, (list, tuple)):
        return [message("label_vocabulary should be a list or a tuple", expected="a list of class names",
                        fix="Pass e.g. label_vocabulary=['no', 'yes']",
                        label_vocabulary_type=type(label_vocabulary).__name__)]
    problems = []
    if not all(isinstance(name, str) for name in label_vocabulary):
        problems.append(message("label_vocabulary must hold strings", fix="Convert the class names with str()",
                                label_vocabulary=list(label_vocabulary)))
    elif len(set(label_vocabulary)) != len(label_vocabulary):
        problems.append(message("label_vocabulary has duplicate names", expected="each class name once",
                                fix="Remove the duplicates", label_vocabulary=list(label_vocabulary)))
    if n_classes is not None and len(label_vocabulary) != n_classes:
        problems.append(message('"label_vocabulary" does not have "n_classes" items',
                                expected=f"{n_classes} class names", fix="List one name per class",
                                n_classes=n_classes, label_vocabulary=list(label_vocabulary)))
    return problems


class LabelVocabulary:
    """The names of ``n_classes`` classes: ``label_vocabulary``, or ``'0'``, ``'1'``, ... without one.

    Args:
        label_vocabulary: Class names in class-id order, or None (labels are already ids).
        n_classes: Number of classes.

    Example:
        >>> vocabulary = LabelVocabulary(["cat", "dog", "eel"], 3)
        >>> vocabulary.ids(np.array([["eel"], ["cat"]]))
        array([[2],
               [0]])
        >>> vocabulary.strings(torch.tensor([[1], [2]]))
        array([['dog'],
               ['eel']], dtype='<U3')
        >>> LabelVocabulary(None, 2).strings(torch.tensor([[1]]))
        array([['1']], dtype='<U1')
    """

    def __init__(self, label_vocabulary: Sequence[str] | None, n_classes: int) -> None:
        self.given = label_vocabulary is not None
        names = list(label_vocabulary) if label_vocabulary is not None else [str(i) for i in range(n_classes)]
        self.names = np.array(names, dtype=str)
        self._order = np.argsort(self.names, kind="stable")
        self._sorted = self.names[self._order]

    def ids(self, labels: Any, allow_empty: bool = False) -> np.ndarray:
        """Class ids (int64, same shape) of string ``labels``.

        Args:
            labels: A numpy array (str, bytes or object) or nested list of class names.
            allow_empty: Map ``''`` to -1 instead of failing (padding of multi-label rows).

        Raises:
            ValueError: a label is not in the vocabulary, or labels are not strings.
        """
        if isinstance(labels, torch.Tensor):  # torch has no string tensors: these are numbers
            raise ValueError(_not_strings(str(labels.dtype)))
        array = np.asarray(labels)
        if array.dtype.kind == "S":
            array = np.char.decode(array, "utf-8")
        elif array.dtype.kind == "O":
            array = array.astype(str)
        if array.dtype.kind != "U":
            raise ValueError(_not_strings(str(array.dtype)))
        positions = np.minimum(np.searchsorted(self._sorted, array), len(self._sorted) - 1)
        found = self._sorted[positions] == array
        ids = self._order[positions].astype(np.int64)
        if allow_empty:
            empty = array == ""
            ids[empty] = -1
            found |= empty
        if not found.all():
            unknown = sorted(set(array[~found].tolist()))
            raise ValueError(message("Labels contain values that are not in label_vocabulary",
                                     expected=f"every label in {self.names.tolist()}",
                                     fix="Add the missing names to label_vocabulary, or clean the labels",
                                     unknown_labels=unknown[:10]))
        return ids

    def strings(self, ids: torch.Tensor) -> np.ndarray:
        """Class names (a numpy str array of the same shape) of integer ``ids``."""
        return self.names[ids.detach().cpu().numpy()]

    def all_strings(self, batch_shape: Sequence[int]) -> np.ndarray:
        """Every class name for every example: shape ``batch_shape + [n_classes]``."""
        return np.broadcast_to(self.names, (*batch_shape, len(self.names))).copy()


def _not_strings(dtype: str) -> str:
    return message("Labels dtype should be string if there is a vocabulary",
                   expected="class names from label_vocabulary (a numpy array or list of str)",
                   fix="Feed the class names, or drop label_vocabulary and feed class ids", labels_dtype=dtype)
