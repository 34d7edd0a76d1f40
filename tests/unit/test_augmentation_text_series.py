"""Text augmentations on token ids and time-series augmentations on windows."""

from __future__ import annotations

import json

import pytest
import torch
from augmentation_batches import SYNONYMS, WORDS, make_images, make_series, make_tokens

from shendu.data import AUGMENTATIONS
from shendu.errors import ConfigError, DataError


# -- text --------------------------------------------------------------------------------------------------------
def _rows(tokens: torch.Tensor) -> list[list[int]]:
    return [[int(t) for t in row if t != 0] for row in tokens]


def test_random_deletion_keeps_order_padding_and_at_least_one_token():
    tokens = torch.cat([make_tokens(), torch.zeros(1, 12, dtype=torch.long)])  # the last row is all padding
    torch.manual_seed(0)
    out = AUGMENTATIONS.get({"name": "random-deletion", "p": 0.3})(tokens)
    for before, after, row in zip(_rows(tokens), _rows(out), out):
        position = iter(before)
        assert all(token in position for token in after)  # a subsequence: order kept
        assert (len(after) >= 1) == (len(before) >= 1) and len(after) <= len(before)
        assert int((row != 0).sum()) == len(after) and bool((row[len(after):] == 0).all())  # padding at the end
    torch.manual_seed(0)
    every = AUGMENTATIONS.get({"name": "random-deletion", "p": 1.0})(tokens)
    assert [len(r) for r in _rows(every)] == [1] * len(tokens[:-1]) + [0]


def test_random_swap_permutes_the_real_tokens_only():
    tokens = make_tokens()
    torch.manual_seed(0)
    out = AUGMENTATIONS.get({"name": "random-swap", "n": 3})(tokens)
    assert torch.equal(out == 0, tokens == 0)
    assert all(sorted(a) == sorted(b) for a, b in zip(_rows(tokens), _rows(out)))
    one = torch.tensor([[4, 0, 0], [4, 5, 0]])
    torch.manual_seed(0)
    swapped = AUGMENTATIONS.get({"name": "random-swap", "n": 1})(one.repeat(20, 1))
    assert torch.equal(swapped[::2], one[:1].repeat(20, 1))  # one token: nothing to swap
    assert {tuple(r.tolist()) for r in swapped[1::2]} == {(4, 5, 0), (5, 4, 0)}


def test_synonym_replacement_uses_the_table_from_a_mapping_or_a_file(tmp_path):
    tokens = make_tokens()
    synonym_ids = {WORDS.index(w): {WORDS.index(s) for s in c} for w, c in SYNONYMS.items()}
    tsv, js = tmp_path / "synonyms.tsv", tmp_path / "synonyms.json"
    tsv.write_text("# word, then synonyms\n" + "".join(f"{w}\t" + "\t".join(c) + "\n" for w, c in SYNONYMS.items()))
    js.write_text(json.dumps(SYNONYMS))
    outputs = []
    for table in (SYNONYMS, str(tsv), str(js)):
        torch.manual_seed(0)
        outputs.append(AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": table, "vocabulary": WORDS,
                                          "p": 1.0})(tokens))
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])
    for before, after in zip(tokens.flatten().tolist(), outputs[0].flatten().tolist()):
        assert after in synonym_ids[before] if before in synonym_ids else after == before
    by_id = AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": {4: [6, 7]}, "p": 1.0})(tokens)
    assert set(by_id[tokens == 4].tolist()) <= {6, 7} and torch.equal(by_id[tokens != 4], tokens[tokens != 4])


def test_synonym_tables_that_cannot_be_read_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("good\tgreat\nmovie\n")
    with pytest.raises(DataError, match=r"bad.tsv, line 2"):
        AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": str(bad), "vocabulary": WORDS})
    broken = tmp_path / "broken.json"
    broken.write_text('{"good": ["great"],\n "movie": [film]}')
    with pytest.raises(DataError, match=r"broken.json, line 2"):
        AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": str(broken), "vocabulary": WORDS})
    with pytest.raises(ConfigError, match="vocabulary"):
        AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": SYNONYMS})
    with pytest.raises(DataError, match="none of the 1 words"):
        AUGMENTATIONS.get({"name": "synonym-replacement", "synonyms": {"cat": ["kitten"]}, "vocabulary": WORDS})
    with pytest.raises(DataError, match=r"\(B, T\)"):
        AUGMENTATIONS.get("random-deletion")(make_images())


# -- series -------------------------------------------------------------------------------------------------------
def test_window_slicing_stretches_a_linear_series_linearly():
    steps = 21
    ramp = torch.arange(steps, dtype=torch.float32).view(1, steps, 1).repeat(8, 1, 2)
    torch.manual_seed(0)
    out = AUGMENTATIONS.get({"name": "window-slicing", "fraction": 11 / 21})(ramp)  # slices of 11 steps
    slope = out[:, 1:] - out[:, :-1]
    torch.testing.assert_close(slope, torch.full_like(slope, 10 / 20))
    assert bool((out[:, 0] >= 0).all() and (out[:, -1] <= steps - 1).all())
    assert len(set(out[:, 0, 0].tolist())) > 1, "starts are drawn per sample"
    assert torch.equal(AUGMENTATIONS.get({"name": "window-slicing", "fraction": 1.0})(ramp), ramp)
    assert AUGMENTATIONS.get("window-slicing")(ramp[..., 0]).shape == (8, steps)  # (B, T) in, (B, T) out


def test_scaling_and_jitter_have_the_asked_statistics():
    series = make_series(count=512).abs() + 1.0
    torch.manual_seed(0)
    ratio = AUGMENTATIONS.get({"name": "scaling", "sigma": 0.2})(series) / series
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio))  # one factor per window
    assert abs(float(ratio[:, 0, 0].std()) - 0.2) < 0.03 and abs(float(ratio[:, 0, 0].mean()) - 1) < 0.03
    per_feature = AUGMENTATIONS.get({"name": "scaling", "sigma": 0.2, "per_feature": True})(series) / series
    assert torch.allclose(per_feature, per_feature[:, :1].expand_as(per_feature))
    assert not torch.allclose(per_feature[:, :, 0], per_feature[:, :, 1])
    noise = AUGMENTATIONS.get({"name": "jitter", "sigma": 0.05})(series) - series
    assert abs(float(noise.std()) - 0.05) < 0.005
