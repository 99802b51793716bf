"""The ECG and CMR encoders and their masked autoencoders: shapes, the saved-folder contract, masking, learning."""

import math

import pytest
import torch

from cardionets.models.cmr_encoder import CMREncoder, CMREncoderConfig, CMRMaskedAutoencoder, CMRMaskedAutoencoderConfig
from cardionets.models.ecg_encoder import ECGEncoder, ECGEncoderConfig, ECGMaskedAutoencoder, ECGMaskedAutoencoderConfig

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sine_ecgs(batch: int = 4) -> torch.Tensor:
    """(batch, 12, 5000) mV: a sine per lead, 1-3 Hz, with its own phase and amplitude; ECG-like in scale."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(5000) / 500.0
    freq = torch.linspace(1.0, 3.0, 12)[:, None]
    phase = 2 * math.pi * torch.rand(1, 12, 1, generator=g)
    amplitude = 0.1 + 0.3 * torch.rand(batch, 12, 1, generator=g)
    return amplitude * torch.sin(2 * math.pi * freq * t + phase)


def beating_cines(batch: int = 4) -> torch.Tensor:
    """(batch, 2, 16, 64, 64) uint8: a bright disc whose radius beats over the 16 frames, placed per sample."""
    frames = torch.arange(16).float()
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    centre_x = torch.linspace(24, 40, batch)[:, None, None, None, None]
    stroke = torch.tensor([1.0, 0.6])[None, :, None, None, None]  # the 4ch view moves less
    radius = 10 + 6 * stroke * torch.cos(2 * math.pi * frames / 16)[None, None, :, None, None]
    inside = ((x - centre_x) ** 2 + (y - 32) ** 2).sqrt() < radius
    return (inside * 200 + 20).to(torch.uint8)


MODELS = {
    "ecg": (ECGEncoder, ECGEncoderConfig, ECGMaskedAutoencoder, ECGMaskedAutoencoderConfig, sine_ecgs),
    "cmr": (CMREncoder, CMREncoderConfig, CMRMaskedAutoencoder, CMRMaskedAutoencoderConfig, beating_cines),
}


@pytest.fixture(params=sorted(MODELS))
def kind(request):
    torch.manual_seed(0)
    return request.param


def make_mae(kind):
    _, _, mae_class, mae_config, _ = MODELS[kind]
    return mae_class(mae_config())


def batch_for(kind, n=2):
    return MODELS[kind][4](n)


def test_ecg_encoder_gives_a_token_per_lead_and_half_second_and_a_pooled_embedding():
    encoder = ECGEncoder(ECGEncoderConfig())
    ecg = sine_ecgs(2)
    assert encoder(ecg).shape == (2, 12 * 20, 128)
    assert encoder.embed(ecg).shape == (2, 128)


def test_cmr_encoder_gives_a_token_per_tubelet_of_both_views_and_a_pooled_embedding():
    encoder = CMREncoder(CMREncoderConfig())
    cine = beating_cines(2)
    assert encoder(cine).shape == (2, 2 * 4 * 8 * 8, 128)
    assert encoder.embed(cine).shape == (2, 128)


def test_cmr_encoder_scales_uint8_cines_to_unit_range():
    encoder = CMREncoder(CMREncoderConfig())
    cine = beating_cines(2)
    torch.testing.assert_close(encoder.embed(cine), encoder.embed(cine.float() / 255.0))


def test_ecg_patches_are_consecutive_half_seconds_at_250_hz():
    config = ECGEncoderConfig()
    ecg = torch.arange(5000.0).expand(1, 12, 5000)
    patches = ECGEncoder(config).patchify(ecg)  # (1, 12, 20, 125)
    assert patches.shape == (1, 12, 20, 125)
    # Sample pairs averaged, then the second patch begins at sample 250 of 500 Hz.
    torch.testing.assert_close(patches[0, 3, 1, :2] * config.amplitude_mv, torch.tensor([250.5, 252.5]))


@pytest.mark.parametrize("bad_shape", [(2, 12, 2500), (2, 8, 5000), (12, 5000)])
def test_ecg_encoder_rejects_anything_but_the_model_view(bad_shape):
    with pytest.raises(ValueError, match="model_view"):
        ECGEncoder(ECGEncoderConfig()).embed(torch.zeros(bad_shape))


def test_cmr_encoder_rejects_a_single_view():
    with pytest.raises(ValueError, match="expected cines"):
        CMREncoder(CMREncoderConfig()).embed(torch.zeros(2, 1, 16, 64, 64, dtype=torch.uint8))


def test_mae_round_trips_through_a_folder_of_json_and_safetensors(kind, tmp_path):
    mae = make_mae(kind).eval()
    x = batch_for(kind)
    folder = mae.save_pretrained(tmp_path / "mae")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = type(mae).from_pretrained(folder).eval()
    assert loaded.config == mae.config
    assert type(loaded.config.encoder) is type(mae.config.encoder)  # nested config rebuilt, not left a dict
    with torch.no_grad():
        expected = mae.loss(x, generator=torch.Generator().manual_seed(3))
        actual = loaded.loss(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(actual, expected)


def test_encoder_extracted_from_the_mae_embeds_exactly_as_inside_it(kind, tmp_path):
    encoder_class = MODELS[kind][0]
    mae = make_mae(kind).eval()
    x = batch_for(kind)
    folder = mae.encoder.save_pretrained(tmp_path / "encoder")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    encoder = encoder_class.from_pretrained(folder).eval()
    with torch.no_grad():
        assert torch.equal(encoder.embed(x), mae.encoder.embed(x))
    assert encoder.state_dict().keys() == mae.encoder.state_dict().keys()


def test_an_mae_folder_is_not_mistaken_for_an_encoder(kind, tmp_path):
    encoder_class = MODELS[kind][0]
    folder = make_mae(kind).save_pretrained(tmp_path / "mae")
    with pytest.raises(ValueError, match="mae"):
        encoder_class.from_pretrained(folder)


@pytest.mark.parametrize("mask_ratio", [0.5, 0.75, 0.9])
def test_masking_leaves_the_same_share_of_every_lead_or_view_visible(kind, mask_ratio):
    mae = make_mae(kind)
    groups, *rest = mae.config.encoder.axes
    per_group = math.prod(rest)
    visible = int(per_group * (1 - mask_ratio))
    latent, keep, mask = mae.forward_encoder(batch_for(kind), mask_ratio)
    assert latent.shape == (2, groups * visible, mae.config.encoder.dim)
    assert keep.shape == (2, groups, visible)
    assert (mask.sum(dim=-1) == per_group - visible).all()
    assert not mask.gather(2, keep).any()  # the kept patches are exactly the unmasked ones


def test_masking_is_deterministic_under_a_seeded_generator(kind):
    mae = make_mae(kind)
    x = batch_for(kind)
    first = mae.forward_encoder(x, 0.75, torch.Generator().manual_seed(7))
    again = mae.forward_encoder(x, 0.75, torch.Generator().manual_seed(7))
    other = mae.forward_encoder(x, 0.75, torch.Generator().manual_seed(8))
    assert torch.equal(first[2], again[2]) and torch.equal(first[0], again[0])
    assert not torch.equal(first[2], other[2])


def test_decoder_predicts_every_patch(kind):
    mae = make_mae(kind)
    x = batch_for(kind)
    latent, keep, _ = mae.forward_encoder(x, 0.75)
    assert mae.forward_decoder(latent, keep).shape == mae.encoder.patchify(x).shape


@pytest.mark.parametrize("device", DEVICES)
def test_models_follow_their_device_with_a_cpu_generator(kind, device):
    mae = make_mae(kind).to(device)
    loss = mae.loss(batch_for(kind), generator=torch.Generator().manual_seed(0))  # input and generator on CPU
    loss.backward()
    assert loss.device.type == device and torch.isfinite(loss)
    assert mae.encoder.embed(batch_for(kind)).device.type == device


def test_ecg_encoder_accepts_float16_ecgs_as_stored():
    encoder = ECGEncoder(ECGEncoderConfig())
    ecg = sine_ecgs(2)
    torch.testing.assert_close(encoder.embed(ecg.half()), encoder.embed(ecg.half().float()))


def test_mae_learns_to_reconstruct_masked_patches(kind):
    mae = make_mae(kind)
    x = batch_for(kind)

    def evaluate() -> float:  # the same masks before and after
        with torch.no_grad():
            return mae.loss(x, generator=torch.Generator().manual_seed(0)).item()

    before = evaluate()
    optimiser = torch.optim.AdamW(mae.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(100):
        optimiser.zero_grad()
        mae.loss(x, generator=generator).backward()
        optimiser.step()
    after = evaluate()
    assert math.isfinite(before) and after < 0.5 * before


def test_hidden_ecg_patches_start_from_the_other_leads_at_the_same_moment():
    mae = make_mae("ecg")
    B, G, N, K, dim = 1, 12, 20, 5, mae.config.decoder_dim
    keep = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(g))[:K] for g in range(G)])[None]
    latent = torch.randn(B, G * K, mae.config.encoder.dim)
    with torch.no_grad():
        grid = mae.decoder_grid(latent, keep)
        visible = mae.decoder_embed(latent).view(B, G, K, dim)
    lead, moment = next((g, n) for g in range(G) for n in range(N) if n not in keep[0, g])  # a hidden cell
    sources = [visible[0, g, k] for g in range(G) for k in range(K) if keep[0, g, k] == moment]
    expected = mae.mask_token + (torch.stack(sources).mean(0) if sources else 0.0)
    torch.testing.assert_close(grid[0, lead, moment], expected)
    g, k = 3, 2  # a visible cell is passed on unchanged
    torch.testing.assert_close(grid[0, g, keep[0, g, k]], visible[0, g, k])

