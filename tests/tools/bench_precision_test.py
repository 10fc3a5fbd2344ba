"""The precision section of tools/bench.py (tools/bench_precision.py)."""

from tests.support.tool_loader import load_tool

TINY = (
    ("fc2_100", "urfb", 4, (8, 8, 3), {}),
    (
        "gait_cifar_fc3",
        "gait",
        4,
        (8, 8, 3),
        dict(activation="leaky_relu", output_activation="linear", loss="softmax"),
    ),
)


def test_the_precision_section_times_both_policies_and_says_when_bf16_is_emulated(
    monkeypatch,
):
    bench = load_tool("bench.py")
    section = bench.bench_precision
    monkeypatch.setattr(section, "CASES", TINY)
    monkeypatch.setattr(section, "MEMORY_NET", "fc2_100")
    probed = []

    def fake_rss(spec):
        probed.append(spec)
        return 100.0

    results = section.bench_precision(1, 1, bench.interleaved, bench.ratio, fake_rss)
    for net, rule, *_ in TINY:
        for policy in section.POLICIES:
            assert results[f"ms/precision/{net}/{rule}/{policy}"] > 0
        assert results[f"ratio/precision/{net}/{rule}"] > 0
    assert probed == [
        "precision:fc2_100:urfb:float32",
        "precision:fc2_100:urfb:mixed_bfloat16",
    ]
    monkeypatch.setattr(section, "cpu_flags", lambda: ["avx512f"])
    table = section.precision_table(results).splitlines()
    assert "bfloat16 is NOT native here" in table[0]
    assert len(table) == 4 + len(TINY)
    assert table[4].startswith("| fc2_100 (batch 4) | urfb |")
    assert table[4].endswith("| 100 / 100 |")
    monkeypatch.setattr(section, "cpu_flags", lambda: ["avx512f", "avx512_bf16"])
    assert "bfloat16 is native (avx512_bf16)" in section.precision_table(results)
