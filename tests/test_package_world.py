"""scripts/package_world.py: ships a world with the sampling defaults of a recipe file, or says why not."""

from worldsim.world_model import WorldModel


def test_sampling_recipe_is_shipped_in_the_world_file(tiny_world, tmp_path, load_script):
    script = load_script("package_world")
    recipe = tmp_path / "ship.yaml"
    recipe.write_text(
        "guidance: {scale: 2.5}\nhold: {threshold: 13, region: [0.875, 1.0, 0.0, 1.0], region_threshold: 6}\n"
    )
    argv = [str(tiny_world / "world.safetensors"), "--data", str(tiny_world / "ds"), "--name", "toy"]
    argv += ["--out", str(tmp_path / "assets"), "--starts", "4", "--sampling", str(recipe), "-S", "guidance.scale=3"]
    assert script.main(argv) == 0
    shipped = WorldModel.load(tmp_path / "assets" / "toy" / "world.safetensors").sampling
    assert (shipped.guidance.scale, shipped.hold.threshold, shipped.hold.region_threshold) == (3.0, 13.0, 6.0)
    assert shipped.hold.region == (0.875, 1.0, 0.0, 1.0) and shipped.steps == 2  # the rest is the world's own
    assert (tmp_path / "assets" / "toy" / "starts.safetensors").is_file()


def test_bad_sampling_recipe_is_one_line_naming_the_file(tiny_world, tmp_path, capsys, load_script):
    script = load_script("package_world")
    recipe = tmp_path / "ship.yaml"
    recipe.write_text("guidnce: 2\n")
    argv = [str(tiny_world / "world.safetensors"), "--data", str(tiny_world / "ds"), "--name", "toy"]
    argv += ["--out", str(tmp_path / "assets"), "--starts", "4", "--sampling", str(recipe)]
    assert script.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(recipe) in err and "guidnce" in err
    recipe.write_text("hold: {threshold: -3}\n")
    assert script.main(argv) == 2
    assert "grey levels" in capsys.readouterr().err
    assert script.main([*argv[:-1], str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_world_only_replaces_the_world_and_keeps_starts_and_recipe(tiny_world, tmp_path, load_script):
    import json

    from worldsim.training.heads import HeadsConfig, train_heads

    script = load_script("package_world")
    base = [str(tiny_world / "world.safetensors"), "--data", str(tiny_world / "ds"), "--name", "toy"]
    assert script.main([*base, "--out", str(tmp_path / "assets"), "--starts", "4", "-S", "guidance.scale=3"]) == 0
    shipped = tmp_path / "assets" / "toy"
    starts = (shipped / "starts.safetensors").read_bytes()
    heads = train_heads(HeadsConfig(world=str(tiny_world / "world.safetensors"), data=str(tiny_world / "ds"),
                                    out=str(tmp_path / "h"), steps=2, batch_size=2, reward_bins=5, device="cpu",
                                    bf16=False), progress=False)  # fmt: skip
    assert script.main([heads["world_file"], "--world-only", "--name", "toy", "--out", str(tmp_path / "assets")]) == 0
    world = WorldModel.load(shipped / "world.safetensors")  # checksums.json matches the new bytes
    assert world.dynamics.cfg.reward_bins == 5 and world.sampling.guidance.scale == 3.0
    assert (shipped / "starts.safetensors").read_bytes() == starts
    assert set(json.loads((shipped / "checksums.json").read_text())) == {"world.safetensors", "starts.safetensors"}
