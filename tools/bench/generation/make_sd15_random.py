"""A Stable Diffusion 1.5-architecture pipeline with random weights, exported with optimum to ONNX.

Same module shapes as runwayml/stable-diffusion-v1-5 (UNet 860M parameters, CLIP ViT-L/14 text
encoder, the SD VAE; diffusers' default configs for those classes are SD 1.x's), random init with a
fixed seed, so timings are those of the real model. Nothing is downloaded. The tokenizer is built
from open_clip's packaged CLIP BPE vocabulary when open_clip_torch is installed, else a byte-level
vocabulary (timing does not depend on it).

    python make_sd15_random.py OUT_DIR
"""

import gzip
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402


def tokenizer(directory: Path):
    from transformers import CLIPTokenizerFast
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    merges = []
    spec = importlib.util.find_spec("open_clip")
    if spec is not None:
        path = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
        merges = [tuple(m.split()) for m in gzip.open(path).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return CLIPTokenizerFast.from_pretrained(str(directory), model_max_length=77, pad_token="<|endoftext|>"), len(vocab)


def main(out: Path):
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from optimum.exporters.onnx import main_export
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tok, vocab_size = tokenizer(Path(tmp) / "tokenizer")
        unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8, sample_size=64)  # SD 1.x defaults
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
            sample_size=512,
        )
        text = CLIPTextModel(
            CLIPTextConfig(vocab_size=vocab_size, hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                           max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
                           bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1)
        )
        scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(tmp, safe_serialization=True)
        del pipe, unet, vae, text
        main_export(tmp, output=str(out), task="text-to-image", opset=17, do_validation=False)
    for p in out.rglob("*.safetensors"):
        p.unlink()
    print(f"exported to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
