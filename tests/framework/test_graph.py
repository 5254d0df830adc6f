"""Graph building with TF1 semantics: names, scopes, default graphs, collections, shapes."""
import numpy as np
import pytest

import graphflow.compat.v1 as tf


def test_add_of_python_ints_prints_like_tf1():
    a = tf.add(3, 5)
    assert str(a) == 'Tensor("Add:0", shape=(), dtype=int32)'
    assert repr(a) == "<tf.Tensor 'Add:0' shape=() dtype=int32>"
    assert a.dtype == tf.int32 and a.op.type == "Add" and a.graph is tf.get_default_graph()


def test_names_are_unique_per_graph_and_case_insensitive():
    x = tf.constant(1.0)
    names = [tf.add(x, x).name, tf.add(x, x).name, (x + x).name, (x + x).name]
    assert names == ["Add:0", "Add_1:0", "add_2:0", "add_3:0"]
    assert tf.constant(2, name="Add_4").name == "Add_4:0"
    assert tf.add(x, x).name == "Add_5:0"


def test_name_scopes_nest_and_uniquify():
    with tf.name_scope("layer") as scope:
        assert scope == "layer/"
        a = tf.constant(1.0, name="w")
        with tf.name_scope("inner"):
            b = tf.identity(a)
    with tf.name_scope("layer") as scope2:
        c = tf.constant(1.0, name="w")
    assert (a.name, b.name, c.name) == ("layer/w:0", "layer/inner/Identity:0", "layer_1/w:0")
    assert scope2 == "layer_1/"
    with tf.name_scope("layer/"):  # a trailing slash re-enters the scope exactly
        assert tf.constant(0).name == "layer/Const:0"


def test_shapes_and_dtypes_are_inferred_at_build_time():
    x = tf.placeholder(tf.float32, [None, 3])
    y = x * 2.0 + tf.constant([1.0, 2.0, 3.0])
    assert y.shape.as_list() == [None, 3] and y.dtype == tf.float32
    assert str(y.shape) == "(?, 3)" and y.get_shape()[1].value == 3
    assert str(tf.placeholder(tf.float32).shape) == "<unknown>"
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant(np.float64(1.0)).dtype == tf.float64
    assert tf.constant([1, 2]).dtype == tf.int32
    assert tf.constant(2 ** 40).dtype == tf.int64
    assert tf.placeholder("float").dtype == tf.float32


def test_no_silent_promotion_between_tensors():
    with pytest.raises(TypeError, match="Add"):
        tf.add(tf.constant(1), tf.constant(1.0))
    with pytest.raises(TypeError):
        tf.constant(1) + 1.5
    assert (tf.constant(1.0) + 1).dtype == tf.float32


def test_broadcast_shape_errors_name_the_op():
    a = tf.placeholder(tf.float32, [2, 3])
    b = tf.placeholder(tf.float32, [4])
    with pytest.raises(ValueError, match="'Add'.*input shapes: \\[2,3\\], \\[4\\]"):
        tf.add(a, b)
    assert tf.add(a, tf.placeholder(tf.float32, [1, 3])).name == "Add:0"


def test_two_graphs_side_by_side_and_mixing_them_is_an_error():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0, name="a")
        assert tf.get_default_graph() is g1
    with g2.as_default():
        b = tf.constant(2.0, name="b")
    assert a.graph is g1 and b.graph is g2 and tf.get_default_graph() not in (g1, g2)
    with pytest.raises(ValueError, match="'b:0'.*same graph.*'a:0'"):
        tf.add(a, b)
    with tf.Session(graph=g1) as s1, tf.Session(graph=g2) as s2:
        assert s1.run(a) == 1.0 and s2.run(b) == 2.0


def test_reset_default_graph_gives_a_new_graph_and_refuses_inside_a_nested_one():
    g = tf.get_default_graph()
    tf.constant(1)
    tf.reset_default_graph()
    assert tf.get_default_graph() is not g
    assert tf.constant(1).name == "Const:0"
    with tf.Graph().as_default():
        with pytest.raises(AssertionError):
            tf.reset_default_graph()


def test_control_dependencies_and_collections():
    a = tf.constant(1.0)
    with tf.control_dependencies([a]):
        b = tf.constant(2.0)
        with tf.control_dependencies(None):
            c = tf.constant(3.0)
    assert b.op.control_inputs == [a.op] and c.op.control_inputs == []
    tf.add_to_collection("mine", a)
    tf.add_to_collections(["mine", "other"], b)
    assert tf.get_collection("mine") == [a, b] and tf.get_collection("other") == [b]
    v = tf.Variable(1.0, name="v")
    w = tf.Variable(2.0, trainable=False, name="w")
    assert tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == [v, w]
    assert tf.trainable_variables() == [v] and tf.global_variables() == [v, w]


def test_finalized_graph_refuses_new_ops():
    g = tf.Graph()
    with g.as_default():
        tf.constant(1)
        g.finalize()
        with pytest.raises(RuntimeError, match="finalized"):
            tf.constant(2)


def test_graph_lookup_by_name():
    x = tf.placeholder(tf.float32, name="x")
    g = tf.get_default_graph()
    assert g.get_tensor_by_name("x:0") is x
    assert g.get_operation_by_name("x") is x.op
    with pytest.raises(KeyError):
        g.get_tensor_by_name("y:0")
    with pytest.raises(ValueError):
        g.get_tensor_by_name("x")


def test_variable_ops_are_named_like_tf1():
    v = tf.Variable([1.0, 2.0], name="weights")
    assert v.name == "weights:0" and v.op.type == "VariableV2"
    assert v.initializer.name == "weights/Assign"
    assert v.value().name == "weights/read:0"
    assert v.initial_value.name == "weights/initial_value:0"
    assert repr(v) == "<tf.Variable 'weights:0' shape=(2,) dtype=float32_ref>"
    assert (v * 2.0).shape.as_list() == [2]


def test_tensor_refuses_bool_and_iteration():
    t = tf.constant([1, 2])
    with pytest.raises(TypeError):
        bool(t)
    with pytest.raises(TypeError):
        iter(t)


def test_creation_site_points_at_user_code():
    a = tf.constant(1.0)  # this line is the creation site
    site = a.op.creation_site
    assert site.filename == __file__ and "this line is the creation site" in site.source_line


def test_python_operands_are_named_after_their_argument_in_the_ops_scope():
    """TF1's names (checked against TF 1.15's tf.compat.v1): "add/y", "mul/x", "Add_1/y"."""
    x = tf.placeholder(tf.float32)
    x + 1.0
    tf.add(x, 2.0)
    3.0 * x
    tf.maximum(x, 0.5)
    tf.multiply(x, 2.0, name="scale/m")
    assert [op.name for op in tf.get_default_graph().get_operations()] == [
        "Placeholder", "add/y", "add", "Add_1/y", "Add_1", "mul/x", "mul", "Maximum/y",
        "Maximum", "scale/m/y", "scale/m"]
