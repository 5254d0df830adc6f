"""One TF1 program, two engines: a builder written against the TF1 API runs on graphflow and on TF.

A builder is ``build(tf, params) -> Program``: it makes its own Graph, a Session from
``session(tf, graph, params)`` (the run's thread budget as intra/inter-op threads) and says what
to fetch and what to feed. The same function body runs on ``graphflow.compat.v1`` and on
``tensorflow.compat.v1``, so the graphflow and TF1 columns of a case time the same program.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Program:
    """A ready Session and one call's worth of fetches and feeds (placeholder -> value)."""

    session: object
    fetches: object
    feeds: dict


def tf_api(framework):
    """The ``tf`` namespace of a framework: graphflow.compat.v1 or TensorFlow's tf.compat.v1."""
    if framework == "graphflow":
        import graphflow.compat.v1 as tf
    elif framework == "tf1":
        import tensorflow.compat.v1 as tf
        tf.disable_v2_behavior()
    else:
        raise ValueError(f"{framework!r} has no TF1 API")
    return tf


def session(tf, graph, params):
    """A Session on ``graph`` using ``params["threads"]`` intra-op and inter-op threads, and
    at most ``params["gpus"]`` GPUs when the case says (0: the CPU even where a GPU is).
    ``params["whole_step"]`` asks for whole-step compilation (global_jit_level=ON_1; TF1 on
    a CPU compiles nothing with it unless TF_XLA_FLAGS=--tf_xla_cpu_global_jit is set)."""
    threads = params["threads"]
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    if "gpus" in params:
        config.device_count["GPU"] = params["gpus"]
    if params.get("whole_step"):  # whole-step compilation (TF1's XLA JIT setting)
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    for name in params.get("passes_off", ()):  # graphflow's pass switches (benchmarks.passes)
        from graphflow.session.passes import turn_off
        turn_off(config.graph_options.rewrite_options, name)
    return tf.Session(graph=graph, config=config)


def _caller(program, style):
    sess, fetches, feeds = program.session, program.fetches, program.feeds
    if style == "run":
        return lambda: sess.run(fetches, feeds)
    if style == "make_callable":
        call = sess.make_callable(fetches, list(feeds))
        values = list(feeds.values())
        return lambda: call(*values)
    raise ValueError(f"unknown call style {style!r}")


def setups(build, style):
    """Setups for the graphflow and tf1 columns: ``build``'s program called through
    ``sess.run(fetches, feeds)`` (style "run") or ``sess.make_callable`` ("make_callable")."""
    def setup_for(framework):
        def setup(params):
            return _caller(build(tf_api(framework), params), style)
        return setup
    return {"graphflow": setup_for("graphflow"), "tf1": setup_for("tf1")}
