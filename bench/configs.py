"""The published configs of the real-size models the benches build, in one place.

The values are those of each checkpoint's config.json on the hub (written out here: the benches never download).
A bench builds the model from them with random weights: the same shapes, so the same compute and memory traffic
as the real checkpoint. bench/gpu_suite.py, bench/real_size_cpu.py and bench/index_throughput.py read them here.
"""

from __future__ import annotations

from typing import Any

# openai/clip-vit-large-patch14: CLIP ViT-L/14 (/find), and SDXL's first text encoder (its text tower).
CLIP_L14_TEXT: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    projection_dim=768,
    hidden_act="quick_gelu",
)
CLIP_L14_VISION: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    projection_dim=768,
)

# Salesforce/blip-image-captioning-large (/caption's default): its text decoder and ViT-L vision tower (384x384).
BLIP_LARGE_TEXT: dict[str, Any] = dict(
    hidden_size=768,
    encoder_hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
)
BLIP_LARGE_VISION: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=384,
    patch_size=16,
    layer_norm_eps=1e-5,
)

# stabilityai/sdxl-turbo: text_encoder_2 (OpenCLIP ViT-bigG/14's text tower), unet, vae.
OPENCLIP_BIGG_TEXT: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    max_position_embeddings=77,
    projection_dim=1280,
    hidden_act="gelu",
)
SDXL_UNET: dict[str, Any] = dict(
    sample_size=64,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10),
    norm_num_groups=32,
    addition_time_embed_dim=256,
    addition_embed_type_num_heads=64,
)
SDXL_VAE: dict[str, Any] = dict(
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=512,
    force_upcast=True,
)

# Qwen's vision-token ids, shared by Qwen2-VL and Qwen2.5-VL.
QWEN_IDS: dict[str, int] = dict(
    image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653
)
QWEN_TEXT_IDS: dict[str, int] = dict(bos_token_id=151643, eos_token_id=151645, pad_token_id=151643)
QWEN_ROPE: dict[str, Any] = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}

# Qwen/Qwen2-VL-2B-Instruct (Qwen2VLConfig): the 2B-class VLM a CPU can run.
QWEN2_VL_2B_TEXT: dict[str, Any] = dict(
    vocab_size=151936,
    hidden_size=1536,
    intermediate_size=8960,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    max_window_layers=28,
    rms_norm_eps=1e-6,
    hidden_act="silu",
    rope_parameters=QWEN_ROPE,
)
QWEN2_VL_2B_VISION: dict[str, Any] = dict(
    depth=32,
    embed_dim=1280,
    mlp_ratio=4,
    num_heads=16,
    in_chans=3,
    hidden_size=1536,  # the merger's output: the language model's width
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
)

# Qwen/Qwen2.5-VL-7B-Instruct (Qwen2_5_VLConfig): the bot's default VLM_MODEL.
QWEN25_VL_7B_TEXT: dict[str, Any] = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=128000,
    rms_norm_eps=1e-6,
    max_window_layers=28,
    hidden_act="silu",
    rope_parameters=QWEN_ROPE,
)
QWEN25_VL_7B_VISION: dict[str, Any] = dict(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    out_hidden_size=3584,
    fullatt_block_indexes=[7, 15, 23, 31],
)
