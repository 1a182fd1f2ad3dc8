"""The one generic loader: detect the format, run its reader, pick the component, build it strictly.

The typed ``load_*`` functions and :func:`read_all_components` (``vjepa2-convert``) only translate their
arguments into a kind, an entry and :class:`SizeArgs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..models import (
    ACPredictor,
    ACPredictorConfig,
    AttentiveClassifier,
    ClassifierConfig,
    EncoderConfig,
    MaskPredictor,
    PredictorConfig,
    VisionEncoder,
)
from .build import build_from_state_dict
from .common import IGNORABLE_KEYS, CheckpointError, Component, Contents
from .detect import detect_format
from .hf import read_hf
from .official import SizeArgs, read_official
from .ours import read_ours_contents


def read_checkpoint(path: str | Path, sizes: SizeArgs | None = None, kinds: list[str] | None = None) -> Contents:
    """Components of any supported checkpoint, unbuilt. ``kinds`` limits what an official file is read for
    (its configs are inferred only for those); HF and own-format files always list everything."""
    p = Path(path)
    sizes = sizes or SizeArgs()
    fmt = detect_format(p)
    if fmt == "ours":
        return read_ours_contents(p)
    if fmt == "hf":
        return read_hf(p, sizes.classifier_num_heads)
    return read_official(p, sizes, kinds)


def _pick(contents: Contents, path: Path, kind: str, entry: str | None) -> Component:
    """The component of ``kind`` (named ``entry`` in our format) of a checkpoint."""
    comps = contents.components
    if contents.format == "official":
        return comps[kind]
    if contents.format == "hf":
        if kind == "ac_predictor":
            raise CheckpointError(
                f"{path}: HF transformers has no V-JEPA 2-AC model; load the official vjepa2-ac-vitg.pt file instead"
            )
        if kind not in comps:
            raise CheckpointError(f"{path}: the HF checkpoint ({contents.description}) has no {kind} weights")
        return comps[kind]
    names = [entry] if entry is not None else [n for n, c in comps.items() if c.kind == kind]
    if not names or names[0] not in comps:
        raise CheckpointError(
            f"{path}: no {kind} component{f' named {entry!r}' if entry else ''}; it has {contents.description}"
        )
    if len(names) > 1:
        raise CheckpointError(
            f"{path}: several {kind} components {names}", argument="entry", fix="pass entry=NAME to choose one"
        )
    comp = comps[names[0]]
    if comp.kind != kind:
        raise CheckpointError(f"{path}: component {names[0]!r} is a {comp.kind}, not a {kind}")
    return comp


def load_component(
    path: str | Path,
    kind: str,
    entry: str | None = None,
    *,
    config: Any = None,
    sizes: SizeArgs | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build the ``kind`` component of any supported checkpoint (``config`` replaces the stored/inferred one).

    The model gets ordinary parameters even when called inside ``torch.inference_mode()`` (inference tensors
    could never be trained, and take other kernel paths than the parameters of a model built outside it).
    """
    p = Path(path)
    sizes = sizes or SizeArgs()
    entries = {**sizes.entries, kind: entry} if entry is not None else dict(sizes.entries)
    configs = {**sizes.configs, kind: config} if config is not None else dict(sizes.configs)
    sizes = dataclasses.replace(sizes, entries=entries, configs=configs)
    with torch.inference_mode(False):
        contents = read_checkpoint(p, sizes, [kind])
        comp = _pick(contents, p, kind, entry)
        return build_from_state_dict(kind, config or comp.config, comp.state_dict, comp.source, device, dtype)


def load_encoder(
    path: str | Path,
    preset: str | None = None,
    entry: str | None = None,
    *,
    config: EncoderConfig | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> VisionEncoder:
    """Load a V-JEPA 2 encoder from an official ``.pt`` (entry ``encoder``, else ``target_encoder``; pass
    ``entry="target_encoder"`` for the EMA weights), an HF directory, or our format."""
    sizes = SizeArgs(preset=preset, num_heads=num_heads, img_size=img_size)
    return load_component(path, "encoder", entry, config=config, sizes=sizes, device=device, dtype=dtype)


def load_predictor(
    path: str | Path,
    entry: str | None = None,
    *,
    config: PredictorConfig | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MaskPredictor:
    """Load the pretraining (mask-token) predictor: official ``.pt`` (entry ``predictor``), HF or ours.

    ``img_size`` (the training crop) fixes its token grid; an official file does not store it, so pass 384 for
    ViT-g-384 weights (without it 256 is assumed, with a warning)."""
    sizes = SizeArgs(predictor_num_heads=num_heads, img_size=img_size)
    return load_component(path, "predictor", entry, config=config, sizes=sizes, device=device, dtype=dtype)


def load_ac_predictor(
    path: str | Path,
    entry: str | None = None,
    *,
    config: ACPredictorConfig | None = None,
    num_heads: int | None = None,
    grid: tuple[int, int] | None = None,
    use_extrinsics: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ACPredictor:
    """Load the V-JEPA 2-AC predictor (``predictor`` entry of ``vjepa2-ac-vitg.pt``, or our format)."""
    sizes = SizeArgs(predictor_num_heads=num_heads, grid=grid, use_extrinsics=use_extrinsics)
    return load_component(path, "ac_predictor", entry, config=config, sizes=sizes, device=device, dtype=dtype)


def load_classifier(
    path: str | Path,
    entry: str | None = None,
    *,
    config: ClassifierConfig | None = None,
    num_heads: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> AttentiveClassifier:
    """Load an attentive probe: official probe file (entry ``classifiers[0]``; 16 heads unless ``num_heads``),
    an HF ``VJEPA2ForVideoClassification`` directory (its pooler uses the encoder's head count) or ours."""
    sizes = SizeArgs(classifier_num_heads=num_heads)
    return load_component(path, "classifier", entry, config=config, sizes=sizes, device=device, dtype=dtype)


def load_pretrained(
    path: str | Path,
    component: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module | dict[str, nn.Module]:
    """Load a vjepa2-core checkpoint: one model if it holds one component (or ``component`` is named), else a
    ``{name: model}`` dict."""
    p = Path(path)
    with torch.inference_mode(False):
        if detect_format(p) != "ours":
            raise CheckpointError(f"{p}: load_pretrained reads the vjepa2-core format; use load_encoder & co.")
        contents = read_ours_contents(p)
        comps = contents.components
        names = [component] if component is not None else list(comps)
        for n in names:
            if n not in comps:
                raise CheckpointError(f"{p}: no component {n!r}; it has {sorted(comps)}")
        models = {
            n: build_from_state_dict(
                comps[n].kind, comps[n].config, comps[n].state_dict, comps[n].source, device, dtype
            )
            for n in names
        }
    return models[names[0]] if len(names) == 1 else models


# ----------------------------------------------------------------------------------------------- inspection
@dataclass
class ComponentSummary:
    name: str
    kind: str
    entry: str
    config: Any
    num_params: int
    preset: str | None = None


@dataclass
class CheckpointSummary:
    path: str
    format: str
    entries: str
    components: list[ComponentSummary] = field(default_factory=list)


def _params(sd: dict[str, Tensor]) -> int:
    return sum(v.numel() for k, v in sd.items() if k not in IGNORABLE_KEYS)


def read_all_components(
    path: str | Path,
    preset: str | None = None,
    num_heads: int | None = None,
    img_size: int | None = None,
    encoder_entry: str | None = None,
    predictor_num_heads: int | None = None,
    classifier_num_heads: int | None = None,
) -> tuple[CheckpointSummary, dict[str, tuple[str, Any, dict[str, Tensor]]]]:
    """Everything loadable in a checkpoint: summary and ``{name: (kind, config, state dict)}`` (unbuilt)."""
    sizes = SizeArgs(
        preset=preset,
        num_heads=num_heads,
        img_size=img_size,
        predictor_num_heads=predictor_num_heads,
        classifier_num_heads=classifier_num_heads,
        entries={"encoder": encoder_entry} if encoder_entry else {},
    )
    with torch.inference_mode(False):
        contents = read_checkpoint(path, sizes)
    summary = CheckpointSummary(str(path), contents.format, contents.description)
    for name, c in contents.components.items():
        summary.components.append(
            ComponentSummary(name, c.kind, c.entry, c.config, _params(c.state_dict), getattr(c.config, "name", None))
        )
    return summary, {n: (c.kind, c.config, c.state_dict) for n, c in contents.components.items()}
