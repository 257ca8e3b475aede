"""The shipped model templates load and build through the template language (on meta: no memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fgtui
from fgtui.engine.models import PostNormLayer

TEMPLATELIB = str(Path(fgtui.__file__).parent / "templatelib")


def _build(text: str, **context):
    from fgtui.engine.config import TemplateEnvironment, build, load_rendered

    rendered = TemplateEnvironment([TEMPLATELIB]).render_string(text, {})
    return build(load_rendered(rendered), "main", context={"device": "meta", **context})


@pytest.mark.parametrize(
    "template,params,model_type",
    [
        ("llama2_7b", 6_738_415_616, "llama"),
        ("mistral_7b", 7_241_732_096, "mistral"),
        ("tinyllama_1.1b", 1_100_048_384, "llama"),
    ],
)
def test_published_shapes_have_their_published_parameter_counts(template, params, model_type):
    model = _build(f"-- extends 'models/{template}.yaml'\n[model]\n    == super()\nmain: *model\n")
    assert model.num_parameters() == params
    assert model.config.model_type == model_type


def test_parts_are_swapped_in_the_template():
    model = _build(
        "-- extends 'models/small.yaml'\n"
        "[layer_factory]\n"
        "layer_factory: &layer_factory !partial:fgtui.engine.models.layers:PostNormLayer@layer_factory {}\n"
        "[attention_factory]\n"
        "attention_factory: &attention_factory !partial:fgtui.engine.models.attention:CausalSelfAttention@attention_factory\n"
        "    sliding_window: 64\n"
        "[model]\n    == super()\nmain: *model\n",
        attn_implementation="eager",
    )
    assert isinstance(model.model.layers[0], PostNormLayer)
    assert model.model.layers[0].self_attn.sliding_window == 64
    assert model.model.layers[0].self_attn.attn_implementation == "eager"
    assert model.config.vocab_size == 8192 and model.config.tie_word_embeddings
