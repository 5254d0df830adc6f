"""DOT views of graphs and plans, checked by parsing the DOT source; rendering, inline
display and the networkx export."""
import re
import shutil

import numpy as np
import pytest

import graphflow.compat.v1 as tf
from graphflow import viz
from graphflow.session import prune
from graphflow.session.ir import Node
from graphflow.viz.dot import STYLES, Item, Link, draw

_ID = r'(?:"(?:[^"\\]|\\.)*"|[\w.]+)'
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*>|[^\s\]]+)')


def _unquote(text):
    return text[1:-1].replace('\\"', '"') if text.startswith('"') else text


def parse(source):
    """The DOT source as {node id: (attrs, enclosing clusters)}, [(src, dst, attrs)] and the
    cluster names in order (graphviz.Digraph writes one statement per line)."""
    nodes, edges, clusters, stack = {}, [], [], []
    for line in source.splitlines():
        line = line.strip()
        m = re.fullmatch(rf"subgraph ({_ID}) {{", line)
        if m:
            stack.append(_unquote(m.group(1)))
            clusters.append(stack[-1])
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        m = re.fullmatch(rf"({_ID}) -> ({_ID})(?: \[(.*)\])?", line)
        if m:
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(3) or "")}
            edges.append((_unquote(m.group(1)), _unquote(m.group(2)), attrs))
            continue
        m = re.fullmatch(rf"({_ID}) \[(.*)\]", line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(2))}
            nodes[_unquote(m.group(1))] = (attrs, list(stack))
    return nodes, edges, clusters


def edge_between(edges, src, dst):
    found = [attrs for s, d, attrs in edges if (s, d) == (src, dst)]
    assert len(found) == 1, f"{len(found)} edges {src} -> {dst}"
    return found[0]


def small_model():
    """x -> layer1 (w, b variables; mul, add) -> gradients-scope ops -> out; plus an op
    nothing fetches."""
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    with tf.name_scope("layer1"):
        w = tf.Variable(np.ones(4, np.float32), name="w")
        b = tf.Variable(np.zeros(4, np.float32), name="b")
        h = x * w + b
    with tf.name_scope("gradients"):
        g = h * 2.0 + x
    with tf.control_dependencies([g]):
        out = tf.identity(h, name="out")
    unused = tf.negative(x, name="unused")
    return x, h, g, out, unused


def test_scopes_are_nested_clusters_and_nodes_show_type_and_name():
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.name_scope("outer"):
        with tf.name_scope("inner"):
            y = tf.multiply(x, x, name="square")
        z = tf.add(y, x, name="sum")
    nodes, _, clusters = parse(viz.to_dot(y.graph, expand_depth=2).source)
    assert clusters == ["cluster_outer", "cluster_outer/inner"]
    assert nodes["outer/inner/square"][0]["label"] == "Mul\\nsquare"
    assert nodes["outer/inner/square"][1] == ["cluster_outer", "cluster_outer/inner"]
    assert nodes["outer/sum"][0]["label"] == "Add\\nsum"
    assert nodes["outer/sum"][1] == ["cluster_outer"]
    assert nodes["x"][1] == [] and z.op.name == "outer/sum"


def test_edges_are_labelled_with_static_shape_and_dtype():
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    n = tf.placeholder(tf.int32, name="n")
    k = tf.constant(3, name="k")
    y = tf.multiply(x, 2.0, name="y")
    m = tf.add(n, k, name="m")
    _, edges, _ = parse(viz.to_dot(y.graph).source)
    assert edge_between(edges, "x", "y")["label"] == "[?,784] float32"
    assert edge_between(edges, "k", "m")["label"] == "[] int32"
    assert edge_between(edges, "n", "m")["label"] == "? int32"
    assert m.op.name == "m"


def test_control_dependencies_are_dashed_and_data_edges_are_not():
    _, _, _, out, _ = small_model()
    _, edges, _ = parse(viz.to_dot(out.graph).source)
    assert edge_between(edges, "gradients/", "out")["style"] == "dashed"
    assert "style" not in edge_between(edges, "layer1/add", "out")


def test_op_kinds_are_styled_distinctly():
    x = tf.placeholder(tf.float32, [3], name="x")
    v = tf.Variable(np.zeros(3, np.float32), name="v")
    with tf.name_scope("gradients"):
        g = tf.multiply(x, 2.0, name="g")
    update = tf.assign_add(v, g, name="update")
    nodes, _, _ = parse(viz.to_dot(x.graph, expand_depth=None, collapse=()).source)
    fill = {name: nodes[name][0]["fillcolor"] for name in
            ("x", "v", "v/initial_value", "gradients/g", "update", "v/read")}
    assert len(set(fill.values())) == 6, fill
    assert nodes["v"][0]["shape"] == "cylinder"
    assert nodes["v"][1] == nodes["v/Assign"][1] == ["cluster_v"]  # beside its Assign and read
    assert nodes["x"][0]["shape"] == STYLES["placeholder"]["shape"]
    assert nodes["v/Assign"][0]["fillcolor"] == fill["update"]
    assert update.op.type == "AssignAdd"


def test_gradients_scope_collapses_to_one_node_and_its_edges_merge():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.float32, [None, 4], name="y")
    with tf.name_scope("gradients"):
        with tf.name_scope("mul_grad"):
            a = x * y
            b = a * x
        c = b + y
    out = tf.identity(c, name="out")
    nodes, edges, clusters = parse(viz.to_dot(out.graph).source)
    assert "gradients/" in nodes and not any(n.startswith("gradients/") and n != "gradients/"
                                             for n in nodes)
    assert not any("gradients" in c for c in clusters)
    assert nodes["gradients/"][0]["label"] == "gradients\\n3 ops"
    assert nodes["gradients/"][0]["shape"] == "box3d"
    assert edge_between(edges, "x", "gradients/")["label"] == "[?,4] float32 x2"
    assert edge_between(edges, "gradients/", "out")["label"] == "[?,4] float32"
    # opened on request; the inner scope follows the depth rule and stays one node
    nodes, edges, clusters = parse(viz.to_dot(out.graph, expand=["gradients"]).source)
    assert clusters == ["cluster_gradients"]
    assert {"gradients/mul_grad/", "gradients/add"} <= set(nodes)
    assert edge_between(edges, "gradients/mul_grad/", "gradients/add")["label"] == \
        "[?,4] float32"
    assert edge_between(edges, "y", "gradients/mul_grad/")["label"] == "[?,4] float32"


def test_edges_between_collapsed_scopes_merge_into_one_with_a_count():
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.name_scope("a"):
        p, q = x * 2.0, x * 3.0
    with tf.name_scope("b"):
        r = p + q
        s = tf.identity(p, name="s")
    nodes, edges, _ = parse(viz.to_dot(x.graph, expand_depth=0).source)
    assert set(nodes) == {"x", "a/", "b/"}
    assert edge_between(edges, "a/", "b/")["label"] == "2 tensors"
    assert edge_between(edges, "x", "a/")["label"] == "[2] float32 x2"
    assert r.op.name == "b/add" and s.op.name == "b/s"


def test_optimizer_scopes_collapse_by_default():
    items = [Item("v", "v", "VariableV2\\nv", "variable", "VariableV2"),
             Item("SGD/update_v/Apply", "SGD/update_v/Apply", "Apply", "update",
                  "ApplyGradientDescent"),
             Item("SGD/lr", "SGD/lr", "Const", "constant", "Const"),
             Item("init/Assign", "init/Assign", "Assign", "update", "Assign")]
    links = [Link("v", "SGD/update_v/Apply", "ref", "v:0", "ref"),
             Link("SGD/lr", "SGD/update_v/Apply", "[] float32", "SGD/lr:0")]
    nodes, edges, clusters = parse(draw(items, links).source)
    assert nodes["SGD/"][0]["fillcolor"] == STYLES["optimizer"]["fillcolor"]
    assert "SGD/update_v/Apply" not in nodes
    assert clusters == ["cluster_init"]  # Assign alone does not make an optimizer scope
    assert edge_between(edges, "v", "SGD/")["style"] == "bold"
    assert parse(draw(items, links, expand_depth=None, collapse=()).source)[2] == [
        "cluster_SGD", "cluster_SGD/update_v", "cluster_init"]


def test_highlight_with_a_plan_greys_out_what_pruning_removed():
    x, h, g, out, unused = small_model()
    # pruning alone (the arithmetic pass would also drop the variables' read Identities)
    config = tf.ConfigProto(graph_options=tf.GraphOptions(rewrite_options=tf.RewriterConfig(
        arithmetic_optimization=tf.RewriterConfig.OFF)))
    with tf.Session(config=config) as sess:
        plan = sess.plan_for(h, {x: 0})
    nodes, edges, _ = parse(viz.to_dot(x.graph, expand_depth=None, collapse=(),
                                       highlight=plan).source)
    greyed = {n for n, (attrs, _) in nodes.items() if "dashed" in attrs["style"]}
    assert greyed == {"unused", "out", "gradients/mul", "gradients/mul/y", "gradients/add",
                      "layer1/w/initial_value", "layer1/w/Assign",
                      "layer1/b/initial_value", "layer1/b/Assign"}
    assert nodes["unused"][0]["fillcolor"] == "#f3f3f3"
    assert nodes["x"][0]["label"] == "Placeholder\\nx\\n(fed)"
    assert edge_between(edges, "x", "unused")["color"] == "#c8c8c8"
    assert "color" not in edge_between(edges, "x", "layer1/mul")
    # a collapsed scope is greyed only when all of its ops are
    nodes, _, _ = parse(viz.to_dot(x.graph, highlight=plan).source)
    assert "dashed" in nodes["gradients/"][0]["style"]
    assert "dashed" not in nodes["layer1/w/"][0]["style"]
    assert nodes["layer1/w/"][0]["shape"] == "cylinder"  # a variable's scope looks like one
    assert unused.op.name == "unused" and g.op.name == "gradients/add"


def test_plan_dot_draws_only_what_the_session_runs():
    x, h, g, out, unused = small_model()
    unfused = tf.ConfigProto(graph_options=tf.GraphOptions(
        rewrite_options=tf.RewriterConfig(elementwise_fusion=tf.RewriterConfig.OFF)))
    with tf.Session(config=unfused) as sess:
        dot = viz.plan_dot(sess, [h, g], {x: np.zeros((1, 4), np.float32)})
        compiled = sess.plan_for([h, g], {x: 0})
    nodes, edges, _ = parse(dot.source)
    by_op = {attrs["tooltip"].split(" (")[0]: n for n, (attrs, _) in nodes.items()}
    assert nodes[by_op["x"]][0]["label"] == "feed\\nx:0"
    assert {"unused", "out", "layer1/w/Assign", "layer1/w/initial_value"}.isdisjoint(by_op)
    assert {"layer1/mul", "layer1/w", "gradients/add"} <= set(by_op)
    assert len(nodes) == len(compiled.plan.nodes) + 1  # and the fetch node
    fetched = sorted(a["label"] for s, d, a in edges if d == "fetch")
    assert fetched == ["#0 [?,4] float32", "#1 [?,4] float32"]
    assert edge_between(edges, by_op["x"], by_op["layer1/mul"])["label"] == "[?,4] float32"
    assert "common_subgraph_elimination" in dot.source
    assert all(attrs.get("color") == "#1f77b4" for n, (attrs, _) in nodes.items()
               if n != "fetch")  # placed on the one CPU


def test_plan_dot_shows_what_fusion_made_of_the_plan():
    x, h, g, out, unused = small_model()
    with tf.Session() as sess:
        dot = viz.plan_dot(sess, [h, g], {x: np.zeros((1, 4), np.float32)})
        compiled = sess.plan_for([h, g], {x: 0})
    fused = [n for n in compiled.plan.nodes if n.type == "_FusedElementwise"]
    assert fused, "the small model has an elementwise chain to fuse"
    nodes, _, _ = parse(dot.source)
    labels = [attrs["label"] for attrs, _ in nodes.values()]
    for node in fused:
        assert any(all(m.name in label for m in node.members) for label in labels)


def test_plan_view_shows_fused_groups_copies_and_ref_inputs():
    x = tf.placeholder(tf.float32, [3], name="x")
    v = tf.Variable(np.zeros(3, np.float32), name="v")
    y = tf.negative(x * 2.0 + 1.0, name="y")
    update = tf.assign(v, y, name="update")
    plan = prune.build([y], [update.op], [x])
    add, neg = (next(n for n in plan.nodes if n.op.name == name) for name in ("add", "y"))
    neg.members = [add.op.inputs[0].op, add.op, neg.op]  # as a fusion pass would record
    copy = Node("_Copy", [(neg, 0)], {}, neg.op, neg.output_dtypes, neg.output_shapes,
                device="/device:GPU:0", name="y/_copy")
    plan.nodes.append(copy)
    plan.fetches = [(copy, 0)]
    nodes, edges, _ = parse(viz.plan_view(plan).source)
    by_label = {" ".join(attrs["label"].split("\\n")[:2]): attrs for attrs, _ in nodes.values()}
    fused = by_label["Neg y"]
    assert fused["label"].endswith("3 ops:\\nmul (Mul)\\ladd (Add)\\ly (Neg)\\l")
    assert fused["peripheries"] == "2"
    copy_attrs = by_label["_Copy _copy"]
    assert copy_attrs["shape"] == "cds" and copy_attrs["label"].endswith("to GPU:0")
    variable = next(n for n, (a, _) in nodes.items() if a["tooltip"].startswith("v "))
    assert nodes[variable][0]["shape"] == "cylinder"
    assert [(a["style"], a["label"]) for s, d, a in edges if s == variable] == [("bold", "ref")]
    # a variable the plan also reads is drawn once, as that plan node
    read = tf.identity(v, name="read_v")
    plan = prune.build([read], [update.op], [x])
    nodes, edges, _ = parse(viz.plan_view(plan).source)
    variables = [n for n, (a, _) in nodes.items() if a["shape"] == "cylinder"]
    assert len(variables) == 1
    assert sorted(a.get("style", "") for s, d, a in edges if s == variables[0]) == ["", "bold"]


def test_device_is_shown_by_outline_colour_with_a_key():
    with tf.device("/cpu:0"):
        a = tf.constant(1.0, name="a")
    with tf.device("/gpu:0"):
        b = tf.negative(a, name="b")
    c = tf.negative(b, name="c")
    dot = viz.to_dot(a.graph)
    nodes, _, _ = parse(dot.source)
    assert nodes["a"][0]["color"] != nodes["b"][0]["color"]
    assert "color" not in nodes[c.op.name][0]
    assert re.search(rf'<font color="{nodes["b"][0]["color"]}">&#9632;</font> GPU:0',
                     dot.source)


needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot program is not installed")


@needs_dot
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"),
                                        ("pdf", b"%PDF")])
def test_render_writes_the_format_the_suffix_names(tmp_path, fmt, magic):
    _, _, _, out, _ = small_model()
    path = viz.render(viz.to_dot(out.graph), tmp_path / f"model.{fmt}")
    with open(path, "rb") as f:
        assert f.read(len(magic)) == magic
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model.{fmt}"]


def test_render_without_dot_writes_the_source_and_says_how_to_get_dot(tmp_path, monkeypatch):
    _, _, _, out, _ = small_model()
    dot = viz.to_dot(out.graph)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.warns(RuntimeWarning, match="apt-get install graphviz"):
        path = viz.render(dot, tmp_path / "model.png")
    assert path == str(tmp_path / "model.dot")
    with open(path) as f:
        assert f.read() == dot.source
    assert dot._repr_svg_() is None
    assert "apt-get install graphviz" in dot._repr_mimebundle_()["text/plain"]


@needs_dot
def test_jupyter_displays_views_inline_as_svg():
    _, _, _, out, _ = small_model()
    dot = viz.to_dot(out.graph)
    assert "<svg" in dot._repr_svg_()
    assert "<svg" in dot._repr_mimebundle_()["image/svg+xml"]


def test_to_networkx_keeps_ops_attrs_shapes_and_both_edge_kinds():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    sq = x * x
    with tf.control_dependencies([sq]):
        y = tf.cast(sq, tf.int32, name="y")
        z = tf.negative(x, name="z")
    g = viz.to_networkx([y, z])
    assert set(g.nodes) == {"x", "mul", "y", "z"}
    assert g.nodes["x"]["attrs"] == {"dtype": "float32", "shape": (None, 3)}
    assert g.nodes["y"]["type"] == "Cast"
    assert g.nodes["y"]["attrs"] == {"SrcT": "float32", "DstT": "int32"}
    assert g.nodes["mul"]["output_shapes"] == [(None, 3)]
    assert g.nodes["y"]["output_dtypes"] == ["int32"]
    assert sorted(g.get_edge_data("x", "mul")) == [0, 1]  # both operands of x * x
    assert g.get_edge_data("x", "mul")[1]["shape"] == (None, 3)
    assert g.get_edge_data("mul", "y")[0]["control"] is False
    assert "^" not in g.get_edge_data("mul", "y")  # its data input already orders them
    assert g.get_edge_data("mul", "z") == {"^": {"control": True}}
    const = tf.constant(np.arange(6.0), name="big")
    unknown = tf.placeholder(tf.float32, name="unknown")
    g = viz.to_networkx(const.graph)
    assert "value" not in g.nodes["big"]["attrs"]
    assert g.nodes[unknown.op.name]["attrs"]["shape"] is None
