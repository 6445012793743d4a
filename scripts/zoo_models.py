"""The model zoo trtgraph is measured on: torchvision classification, segmentation and detection
backbones, and transformers built from configs. All weights are random; nothing is downloaded.

Each entry builds ``(model, inputs, options)``; ``options`` are extra ``trtgraph.convert`` kwargs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class ZooModel:
    name: str
    family: str
    build: Callable[[], tuple]  # -> (model, inputs)
    options: dict = field(default_factory=dict)


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def _image(size, batch=1):
    return torch.randn(batch, 3, *size, generator=_gen())


def _randomize_bn(model):
    g = _gen(7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
    return model


def _no_zero_layers(model):
    """Give zero-initialized weights (torchvision's ViT heads) random values: a layer that outputs
    zeros makes every comparison of the model's output pass trivially."""
    g = _gen(11)
    with torch.no_grad():
        for m in model.modules():
            w = getattr(m, "weight", None)
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Conv3d)) and w is not None and not w.any():
                w.copy_(torch.randn(w.shape, generator=g) * w.shape[1] ** -0.5)
    return model


def torchvision_classification() -> list[ZooModel]:
    import torchvision

    out = []
    for name in torchvision.models.list_models(module=torchvision.models):
        def build(name=name):
            torch.manual_seed(0)
            kwargs = {"aux_logits": True, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
            model = torchvision.models.get_model(name, weights=None, **kwargs)
            size = (299, 299) if name == "inception_v3" else (224, 224)
            return _no_zero_layers(_randomize_bn(model)).eval(), [_image(size)]
        opts = {"param_exclude": ".*AuxLogits.*"} if name == "inception_v3" else {}
        out.append(ZooModel(name, "torchvision classification", build, opts))
    return out


class _DictOut(torch.nn.Module):
    """Segmentation models return a dict: keep the 'out' head only."""

    def __init__(self, model, key="out"):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x):
        return self.model(x)[self.key]


def torchvision_segmentation() -> list[ZooModel]:
    import torchvision.models.segmentation as seg

    out = []
    for name in ("fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"):
        def build(name=name):
            torch.manual_seed(0)
            kwargs = {"weights_backbone": None}
            if name != "lraspp_mobilenet_v3_large":
                kwargs["aux_loss"] = False
            model = getattr(seg, name)(weights=None, **kwargs)
            return _DictOut(_randomize_bn(model).eval()), [_image((224, 224))]
        out.append(ZooModel(name, "torchvision segmentation", build))
    return out


def torchvision_detection_backbone() -> list[ZooModel]:
    def build():
        import torchvision.models.detection as det

        torch.manual_seed(0)
        model = det.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
        return _randomize_bn(model.backbone).eval(), [_image((224, 224))]
    return [ZooModel("fasterrcnn_resnet50_fpn.backbone", "torchvision detection backbone", build)]


class _LastHidden(torch.nn.Module):
    """A transformers model returning its last hidden state as a plain tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def _hf(name, config_fn, model_fn, inputs_fn, options=None):
    def build():
        import transformers

        torch.manual_seed(0)
        config = config_fn(transformers)
        if hasattr(config, "use_cache"):
            config.use_cache = False
        model = model_fn(transformers, config).eval()
        return _LastHidden(model).eval(), inputs_fn(config)
    return ZooModel(name, "transformers", build, options or {})


def _tokens(config, batch=1, length=16):
    return torch.randint(0, min(config.vocab_size, 1000), (batch, length), generator=_gen())


def transformers_models(size: str = "tiny") -> list[ZooModel]:
    """``size='tiny'`` for the test suite (2 layers, narrow), ``'base'`` for the zoo script."""
    tiny = size == "tiny"
    L, H, A, I = (2, 64, 4, 128) if tiny else (12, 768, 12, 3072)
    return [
        _hf("bert", lambda t: t.BertConfig(num_hidden_layers=L, hidden_size=H, num_attention_heads=A,
                                           intermediate_size=I),
            lambda t, c: t.BertModel(c), lambda c: [_tokens(c)]),
        _hf("distilbert", lambda t: t.DistilBertConfig(n_layers=L, dim=H, n_heads=A, hidden_dim=I),
            lambda t, c: t.DistilBertModel(c), lambda c: [_tokens(c)]),
        _hf("roberta", lambda t: t.RobertaConfig(num_hidden_layers=L, hidden_size=H, num_attention_heads=A,
                                                 intermediate_size=I),
            lambda t, c: t.RobertaModel(c), lambda c: [_tokens(c)]),
        _hf("gpt2", lambda t: t.GPT2Config(n_layer=L, n_embd=H, n_head=A),
            lambda t, c: t.GPT2Model(c), lambda c: [_tokens(c)]),
        _hf("vit", lambda t: t.ViTConfig(num_hidden_layers=L, hidden_size=H, num_attention_heads=A,
                                         intermediate_size=I, image_size=64 if tiny else 224,
                                         patch_size=16),
            lambda t, c: t.ViTModel(c), lambda c: [_image((c.image_size, c.image_size))]),
        _hf("convnext", lambda t: t.ConvNextConfig(depths=[1, 1, 1, 1] if tiny else [3, 3, 9, 3],
                                                   hidden_sizes=[16, 32, 64, 128] if tiny else [96, 192, 384, 768]),
            lambda t, c: t.ConvNextModel(c), lambda c: [_image((64, 64) if tiny else (224, 224))]),
        _hf("swin", lambda t: t.SwinConfig(image_size=64, embed_dim=24, depths=[1, 1], num_heads=[2, 2],
                                           window_size=4) if tiny else t.SwinConfig(),
            lambda t, c: t.SwinModel(c), lambda c: [_image((c.image_size, c.image_size))]),
        _hf("t5_encoder", lambda t: t.T5Config(num_layers=L, d_model=H, num_heads=A, d_ff=I, d_kv=H // A),
            lambda t, c: t.T5EncoderModel(c), lambda c: [_tokens(c)]),
        _hf("llama", lambda t: t.LlamaConfig(num_hidden_layers=L, hidden_size=H, num_attention_heads=A,
                                             num_key_value_heads=A // 2, intermediate_size=I,
                                             vocab_size=1000 if tiny else 32000, use_cache=False),
            lambda t, c: t.LlamaModel(c), lambda c: [_tokens(c)]),
        _hf("whisper_encoder", lambda t: t.WhisperConfig(encoder_layers=L, d_model=H, encoder_attention_heads=A,
                                                         decoder_layers=1, decoder_attention_heads=A,
                                                         decoder_ffn_dim=I,
                                                         encoder_ffn_dim=I, num_mel_bins=16 if tiny else 80,
                                                         max_source_positions=32 if tiny else 1500),
            lambda t, c: t.WhisperModel(c).get_encoder(),
            lambda c: [torch.randn(1, c.num_mel_bins, 2 * c.max_source_positions, generator=_gen())]),
    ]


# clip shapes (batch, channels, frames, height, width): the MViT models' positional embeddings fix
# 16x224x224 and S3D's final 2x7x7 average pool needs at least 16x224x224; the others take a short clip
VIDEO_MODELS = {
    "r3d_18": (8, 112, 112), "mc3_18": (8, 112, 112), "r2plus1d_18": (8, 112, 112),
    "s3d": (16, 224, 224), "mvit_v1_b": (16, 224, 224), "mvit_v2_s": (16, 224, 224),
    "swin3d_t": (8, 112, 112),
}


def torchvision_video() -> list[ZooModel]:
    out = []
    for name, clip in VIDEO_MODELS.items():
        def build(name=name, clip=clip):
            import torchvision

            torch.manual_seed(0)
            model = torchvision.models.get_model(name, weights=None)
            x = torch.randn(1, 3, *clip, generator=_gen())
            return _no_zero_layers(_randomize_bn(model)).eval(), [x]
        out.append(ZooModel(name, "torchvision video", build))
    return out


def all_models(transformer_size: str = "base") -> list[ZooModel]:
    return (torchvision_classification() + torchvision_segmentation() + torchvision_detection_backbone()
            + torchvision_video() + transformers_models(transformer_size))
