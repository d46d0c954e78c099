"""Machine operations numba does not expose, for the extraction kernels.

``float32_bits(x)``
    the IEEE-754 bit pattern of a float32 as an int32 (a register move, no memory round trip),
    so that an order-preserving integer key of a float can be formed inside a vectorised loop;
``prefetch(array, index)``
    a hint to bring the cache line holding element ``index`` of a C-contiguous array (counted
    in elements from its start) into the cache, without waiting for it and without faulting
    on any address. Kernels use it to fetch the next event's waveforms from main memory while
    they compute on the current one;
``neighbor_peak(scratch, rows)``
    the first argmax of the float32 sum of a few rows of a 2-D array, in explicit 16-lane
    vectors (numba's own loops leave this search, the hottest of the stage, about 1.6 times
    slower: LLVM cannot vectorise an argmax itself and pays a scalar remainder per row);
``window_moments(scratch, pixel, first, width, lanes)``
    the three sums of one pixel's integration window from one 8- or 16-lane load and three
    tree sums (about 10 µs of a 40–50 µs LSTCam or NectarCam event faster than the
    sample-by-sample loop, whose float64 additions form one dependency chain per pixel).

Hand-written vector code stays only where it saves at least a tenth of the stage's compute,
measured on this code; each has a plain numba loop that gives identical results and serves as
its test oracle (``_neighbor_peaks_scalar`` and ``_window_sums`` in
:mod:`datapipe_ops.calib.extraction`). The IR is written for the numba / llvmlite versions
pinned in ``pyproject.toml``; :data:`LLVMLITE_VERSIONS` records them and the tests check the
installed ones.

All are LLVM IR (vector types, ``bitcast``, ``llvm.prefetch``, ``llvm.vector.reduce.*``)
emitted through :func:`numba.extending.intrinsic`; they work in any ``@njit`` function, cached
or not, and compile to AVX-512 on this project's machines (to narrower vectors elsewhere). Each
is tested against plain numpy in ``tests/calib/test_intrinsics.py``.

Note: numba's on-disk cache does not notice a change in this module, only in the module of the
cached function: after editing an intrinsic, delete the ``__pycache__/*.nbi``/``*.nbc`` files
(the test session uses a cache directory per source digest, see ``tests/conftest.py``).
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

#: the (major, minor) releases of numba and llvmlite this IR is written and tested for
NUMBA_VERSIONS = ((0, 68),)
LLVMLITE_VERSIONS = ((0, 50),)

_I32 = ir.IntType(32)


@intrinsic
def float32_bits(typingctx, value):
    """int32 with the bit pattern of the float32 ``value``."""
    if not isinstance(value, types.Float) or value.bitwidth != 32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _I32)

    return types.int32(value), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Prefetch (for reading, into all cache levels) element ``index`` of ``array``."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer.type, _I32, _I32, _I32]),
            "llvm.prefetch.p0",
        )
        # read, highest temporal locality, data cache
        builder.call(function, [byte_pointer, _I32(0), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


#: float32 lanes of the vectors :func:`neighbor_peak` works on (one AVX-512 register)
LANES = 16
_I64 = ir.IntType(64)
_FLOATS = ir.VectorType(ir.FloatType(), LANES)
_INTS = ir.VectorType(_I32, LANES)


def _splat(builder: ir.IRBuilder, value: ir.Value, lanes: int = LANES) -> ir.Value:
    """A vector of ``lanes`` copies of the int32 ``value``."""
    vector_type = ir.VectorType(_I32, lanes)
    undefined = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undefined, value, _I32(0))
    return builder.shuffle_vector(first, undefined, ir.Constant(vector_type, [0] * lanes))


def _splat64(builder: ir.IRBuilder, value: int) -> ir.Value:
    """A constant vector of ``LANES`` int64 ``value``."""
    return ir.Constant(ir.VectorType(_I64, LANES), [value] * LANES)


@intrinsic
def neighbor_peak(typingctx, scratch, rows):
    """First sample of the maximum of the float32 sum of ``scratch`` rows ``rows``.

    ``scratch`` is a C-contiguous 2-D float32 array with at least ``LANES`` columns; ``rows``
    a tuple of row indices. The sum is formed left to right in float32, plus a final +0.0 (so
    that -0.0 counts as +0.0), exactly as the scalar loop ``s = r0[i] + r1[i] + ...`` would.

    The samples are taken ``LANES`` at a time (the last block overlaps the one before when the
    row length is not a multiple of ``LANES``); each lane keeps its largest value and the first
    sample where it occurred, comparing the floats through an order-preserving integer image;
    one 64-bit maximum over the lanes of (value, complement of the sample) then gives the
    smallest sample holding the overall maximum: the first maximum numpy's ``argmax`` returns.
    """
    if not (
        isinstance(scratch, types.Array)
        and scratch.ndim == 2
        and scratch.layout == "C"
        and scratch.dtype == types.float32
        and isinstance(rows, types.UniTuple)
        and isinstance(rows.dtype, types.Integer)
    ):
        return None
    count = rows.count

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        n_samples = builder.extract_value(array.shape, 1)
        starts = [
            builder.gep(
                array.data,
                [builder.mul(context.cast(builder, row, rows.dtype, types.int64), n_samples)],
            )
            for row in cgutils.unpack_tuple(builder, args[1], count)
        ]
        best = cgutils.alloca_once_value(builder, ir.Constant(_INTS, [-(2**31)] * LANES))
        where = cgutils.alloca_once_value(builder, ir.Constant(_INTS, [0] * LANES))
        lane = ir.Constant(_INTS, list(range(LANES)))
        zero = ir.Constant(_FLOATS, [0.0] * LANES)
        magnitude = ir.Constant(_INTS, [0x7FFFFFFF] * LANES)
        sign = ir.Constant(_INTS, [31] * LANES)
        last = builder.sub(n_samples, _I64(LANES))
        n_blocks = builder.udiv(builder.add(n_samples, _I64(LANES - 1)), _I64(LANES))
        with cgutils.for_range(builder, n_blocks) as loop:
            first = builder.mul(loop.index, _I64(LANES))
            first = builder.select(builder.icmp_signed(">", first, last), last, first)
            total = None
            for start in starts:
                pointer = builder.bitcast(builder.gep(start, [first]), _FLOATS.as_pointer())
                block = builder.load(pointer, align=4)
                total = block if total is None else builder.fadd(total, block)
            bits = builder.bitcast(builder.fadd(total, zero), _INTS)
            ordered = builder.xor(bits, builder.and_(builder.ashr(bits, sign), magnitude))
            previous = builder.load(best)
            better = builder.icmp_signed(">", ordered, previous)
            samples = builder.add(_splat(builder, builder.trunc(first, _I32)), lane)
            builder.store(builder.select(better, ordered, previous), best)
            builder.store(builder.select(better, samples, builder.load(where)), where)
        # one 64-bit key per lane: the value above, the complement of the sample below, so
        # that a single maximum picks the largest value and, among equals, the first sample
        keys_type = ir.VectorType(_I64, LANES)
        high = builder.shl(builder.sext(builder.load(best), keys_type), _splat64(builder, 32))
        low = builder.zext(builder.xor(builder.load(where), _splat(builder, _I32(-1))), keys_type)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(_I64, [keys_type]),
            f"llvm.vector.reduce.smax.v{LANES}i64",
        )
        key = builder.call(function, [builder.or_(high, low)])
        sample = builder.xor(builder.trunc(key, _I32), _I32(-1))
        return builder.zext(sample, _I64)

    return types.int64(scratch, rows), codegen


_F64 = ir.DoubleType()


def _sum_doubles(builder: ir.IRBuilder, vector: ir.Value) -> ir.Value:
    """Sum of the doubles of ``vector`` by halving (a fixed tree order)."""
    width = vector.type.count
    while width > 1:
        width //= 2
        low = builder.shuffle_vector(
            vector, vector, ir.Constant(ir.VectorType(_I32, width), list(range(width)))
        )
        high = builder.shuffle_vector(
            vector, vector, ir.Constant(ir.VectorType(_I32, width), list(range(width, 2 * width)))
        )
        vector = builder.fadd(low, high)
    return builder.extract_element(vector, _I32(0))


@intrinsic
def window_moments(typingctx, scratch, pixel, first, width, lanes):
    """Sum, time numerator and time denominator of one pixel's integration window.

    Of row ``pixel`` of the 2-D float32 ``scratch`` (at least ``lanes`` columns, rows
    contiguous, possibly a view of the first columns of a wider array), the samples
    ``first .. first + width - 1`` that lie inside the row (``width`` at most ``lanes``, a
    constant 8 or 16): ``sum(v)``, ``sum(max(v, 0) * s)`` and ``sum(max(v, 0))`` in float64.
    One ``lanes``-sample load placed to cover the window, lanes outside it set to zero, and
    three tree sums.

    The sums are taken in tree order, not sample by sample: the caller must make sure they are
    exact in float64 (then every order gives the same, correctly rounded, result); see
    :func:`datapipe_ops.calib.extraction.exact_window_sums`.
    """
    if not (
        isinstance(scratch, types.Array)
        and scratch.ndim == 2
        and scratch.dtype == types.float32
        and all(isinstance(t, types.Integer) for t in (pixel, first, width))
        and isinstance(lanes, types.IntegerLiteral)
        and lanes.literal_value in (8, 16)
    ):
        return None
    n_lanes = lanes.literal_value
    floats = ir.VectorType(ir.FloatType(), n_lanes)
    doubles = ir.VectorType(_F64, n_lanes)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        n_samples = builder.extract_value(array.shape, 1)
        pixel_, first_, width_ = (
            context.cast(builder, value, kind, types.int64)
            for value, kind in zip(args[1:4], signature.args[1:4], strict=True)
        )
        # the block start: the window's start, moved into 0 .. n_samples - n_lanes
        start = builder.select(builder.icmp_signed("<", first_, _I64(0)), _I64(0), first_)
        last = builder.sub(n_samples, _I64(n_lanes))
        start = builder.select(builder.icmp_signed(">", start, last), last, start)
        offset = builder.add(builder.mul(pixel_, _row_stride(builder, array)), start)
        pointer = builder.bitcast(builder.gep(array.data, [offset]), floats.as_pointer())
        values = builder.fpext(builder.load(pointer, align=4), doubles)
        lane = ir.Constant(ir.VectorType(_I32, n_lanes), list(range(n_lanes)))
        samples = builder.add(_splat(builder, builder.trunc(start, _I32), n_lanes), lane)
        low = _splat(builder, builder.trunc(first_, _I32), n_lanes)
        high = builder.add(low, _splat(builder, builder.trunc(width_, _I32), n_lanes))
        inside = builder.and_(
            builder.icmp_signed(">=", samples, low), builder.icmp_signed("<", samples, high)
        )
        zeros = ir.Constant(doubles, [0.0] * n_lanes)
        values = builder.select(inside, values, zeros)
        positive = builder.select(builder.fcmp_ordered(">", values, zeros), values, zeros)
        weighted = builder.fmul(positive, builder.sitofp(samples, doubles))
        sums = [_sum_doubles(builder, v) for v in (values, weighted, positive)]
        return context.make_tuple(builder, signature.return_type, sums)

    signature = types.UniTuple(types.float64, 3)(scratch, pixel, first, width, lanes)
    return signature, codegen


def _row_stride(builder: ir.IRBuilder, array) -> ir.Value:
    """Elements from one row of a 2-D float32 array to the next (rows may be padded)."""
    return builder.udiv(builder.extract_value(array.strides, 0), _I64(4))
