"""Prometheus text rendering."""

from __future__ import annotations

from node.metrics import Metrics


def test_render_gauges_counters_and_histograms():
    metrics = Metrics()
    heights = {"best": 7, "finalized": 5}
    metrics.gauge("substrate_block_height", "Block height info of the chain",
                  lambda: {(("status", k),): v for k, v in heights.items()})
    metrics.gauge("substrate_sub_libp2p_peers_count", "Number of connected peers", lambda: 3)
    metrics.counter("cairn_blocks_imported_total", "Blocks imported")
    metrics.inc("cairn_blocks_imported_total", 2)
    histogram = metrics.histogram("cairn_block_import_seconds", "Time to verify and execute a block", (0.01, 0.1, 1))
    for value in (0.005, 0.05, 0.5, 5):
        histogram.observe(value)
    text = metrics.render()
    assert 'substrate_block_height{status="best"} 7' in text
    assert 'substrate_block_height{status="finalized"} 5' in text
    assert "substrate_sub_libp2p_peers_count 3" in text
    assert "# TYPE cairn_blocks_imported_total counter\ncairn_blocks_imported_total 2" in text
    assert 'cairn_block_import_seconds_bucket{le="0.1"} 2' in text
    assert 'cairn_block_import_seconds_bucket{le="+Inf"} 4' in text
    assert "cairn_block_import_seconds_count 4" in text
    heights["best"] = 8
    assert 'substrate_block_height{status="best"} 8' in metrics.render()
