using System.Numerics;
using Detektor.Core.Frames;
using Detektor.Imaging;

namespace Detektor.Detection.Preprocessing;

public enum TensorLayout
{
    /// <summary><c>[1, H, W, 3]</c>: channels interleaved, as rgb24 already is.</summary>
    Nhwc,

    /// <summary><c>[1, 3, H, W]</c>: one plane per channel.</summary>
    Nchw,
}

/// <summary>How pixel bytes become tensor values: <c>value = byte × Scale + Offset</c>; padding gets <see cref="PadValue"/> (a byte value).</summary>
public readonly record struct PixelNormalization(float Scale, float Offset, byte PadValue)
{
    /// <summary>Raw 0..255 (CenterNet).</summary>
    public static PixelNormalization Raw { get; } = new(1f, 0f, 0);

    /// <summary>0..1, grey padding (YOLO exports).</summary>
    public static PixelNormalization Unit { get; } = new(1f / 255f, 0f, 114);

    /// <summary>-1..1 (BlazeFace).</summary>
    public static PixelNormalization Symmetric { get; } = new(1f / 127.5f, -1f, 0);
}

/// <summary>A region of a frame in pixels (the whole frame, or e.g. a person's box for the face detector).</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height);

/// <summary>Maps model-input coordinates back to frame pixels: <c>frame = (input − pad) / scale + origin</c>.</summary>
public readonly record struct LetterboxTransform(float Scale, float PadX, float PadY, float OriginX, float OriginY, int FrameWidth, int FrameHeight)
{
    public float ToFrameX(float x) => Math.Clamp(((x - PadX) / Scale) + OriginX, 0, FrameWidth);

    public float ToFrameY(float y) => Math.Clamp(((y - PadY) / Scale) + OriginY, 0, FrameHeight);
}

/// <summary>
/// Letterboxes rgb24 pixels straight into a model's float input tensor: scales the frame (or a region of it) to fit the
/// target keeping its aspect ratio (bilinear, pixel centres aligned), centres it, and fills the rest with padding. No
/// intermediate image: each source row is resampled horizontally once into a small float row cache, then output rows are
/// blended vertically and normalised with SIMD straight into the tensor. Tables and caches are kept for the next frame
/// of the same geometry, so steady-state frames allocate nothing. Not thread-safe: one instance per worker.
/// </summary>
public sealed class Letterbox
{
    private readonly int _targetWidth;
    private readonly int _targetHeight;
    private readonly TensorLayout _layout;
    private readonly PixelNormalization _norm;

    private (int FrameWidth, int FrameHeight, PixelRect Roi, int Step) _geometry = (-1, -1, default, 0);
    private int _scaledWidth;
    private int _scaledHeight;
    private int _padX;
    private int _padY;
    private float _scale;
    private int[] _x0 = [];
    private int[] _x1 = [];
    private float[] _wx = [];
    private int[] _y0 = [];
    private int[] _y1 = [];
    private float[] _wy = [];
    private float[][] _rows = [[], []];
    private readonly int[] _rowTags = [-1, -1];

    public Letterbox(int targetWidth, int targetHeight, TensorLayout layout, PixelNormalization normalization)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetHeight);
        _targetWidth = targetWidth;
        _targetHeight = targetHeight;
        _layout = layout;
        _norm = normalization;
    }

    public int TensorLength => _targetWidth * _targetHeight * 3;

    /// <summary>Fills <paramref name="tensor"/> from the whole frame.</summary>
    public LetterboxTransform Fill(ReadOnlySpan<byte> rgb24, int width, int height, Span<float> tensor) =>
        Fill(rgb24, width, height, new PixelRect(0, 0, width, height), tensor);

    /// <summary>Fills <paramref name="tensor"/> from <paramref name="roi"/> of an rgb24 frame (clipped to it).</summary>
    public LetterboxTransform Fill(ReadOnlySpan<byte> rgb24, int width, int height, PixelRect roi, Span<float> tensor) =>
        Fill(rgb24, PixelFormats.Rgb24, width, height, roi, tensor);

    /// <summary>
    /// Fills <paramref name="tensor"/> from <paramref name="roi"/> of a frame of <paramref name="pixelFormat"/> (clipped to
    /// it). A yuv420p frame is converted to rgb24 one source row at a time, only the rows and columns the resampling reads:
    /// no whole-frame conversion.
    /// </summary>
    public LetterboxTransform Fill(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, PixelRect roi, Span<float> tensor)
    {
        var yuv = pixelFormat switch
        {
            PixelFormats.Rgb24 => false,
            PixelFormats.Yuv420p => true,
            _ => throw new NotSupportedException($"Detection needs rgb24 or yuv420p pixels, not {pixelFormat}."),
        };
        var needed = PixelFormats.FrameBytes(pixelFormat, width, height);
        if (pixels.Length < needed)
        {
            throw new ArgumentException($"{width}x{height} {pixelFormat} needs {needed} bytes, got {pixels.Length}.", nameof(pixels));
        }

        if (tensor.Length != TensorLength)
        {
            throw new ArgumentException($"The tensor must hold {TensorLength} floats, it holds {tensor.Length}.", nameof(tensor));
        }

        roi = Clip(roi, width, height);
        // The column tables hold byte offsets into a source row: 3 per pixel in rgb24, 1 in a converted yuv420p plane.
        var step = yuv ? 1 : 3;
        if (_geometry != (width, height, roi, step))
        {
            Prepare(width, height, roi, step, tensor);
        }

        _rowTags[0] = _rowTags[1] = -1;
        var planeSize = _targetWidth * _targetHeight;
        var rowFloats = _scaledWidth * 3;
        for (var oy = 0; oy < _scaledHeight; oy++)
        {
            var a = Row(pixels, yuv, width, height, _y0[oy]);
            var b = Row(pixels, yuv, width, height, _y1[oy]);
            var wy = _wy[oy];
            var ty = _padY + oy;
            if (_layout == TensorLayout.Nhwc)
            {
                Blend(a, b, wy, tensor.Slice(((ty * _targetWidth) + _padX) * 3, rowFloats));
            }
            else
            {
                for (var c = 0; c < 3; c++)
                {
                    var plane = c * _scaledWidth;
                    Blend(a.Slice(plane, _scaledWidth), b.Slice(plane, _scaledWidth), wy, tensor.Slice((c * planeSize) + (ty * _targetWidth) + _padX, _scaledWidth));
                }
            }
        }

        return new LetterboxTransform(_scale, _padX, _padY, roi.X, roi.Y, width, height);
    }

    private static PixelRect Clip(PixelRect roi, int width, int height)
    {
        var x = Math.Clamp(roi.X, 0, width - 1);
        var y = Math.Clamp(roi.Y, 0, height - 1);
        var w = Math.Clamp(roi.Width, 1, width - x);
        var h = Math.Clamp(roi.Height, 1, height - y);
        return new PixelRect(x, y, w, h);
    }

    private void Prepare(int width, int height, PixelRect roi, int step, Span<float> tensor)
    {
        _geometry = (width, height, roi, step);
        _scale = Math.Min((float)_targetWidth / roi.Width, (float)_targetHeight / roi.Height);
        _scaledWidth = Math.Clamp((int)MathF.Round(roi.Width * _scale), 1, _targetWidth);
        _scaledHeight = Math.Clamp((int)MathF.Round(roi.Height * _scale), 1, _targetHeight);
        _padX = (_targetWidth - _scaledWidth) / 2;
        _padY = (_targetHeight - _scaledHeight) / 2;
        var planar = _layout == TensorLayout.Nchw;

        Resize(ref _x0, _scaledWidth);
        Resize(ref _x1, _scaledWidth);
        Resize(ref _wx, _scaledWidth);
        for (var x = 0; x < _scaledWidth; x++)
        {
            var (i0, i1, w) = Sample(x, roi.Width, _scaledWidth);
            _x0[x] = (roi.X + i0) * step;
            _x1[x] = (roi.X + i1) * step;
            _wx[x] = w;
        }

        Resize(ref _y0, _scaledHeight);
        Resize(ref _y1, _scaledHeight);
        Resize(ref _wy, _scaledHeight);
        for (var y = 0; y < _scaledHeight; y++)
        {
            var (i0, i1, w) = Sample(y, roi.Height, _scaledHeight);
            _y0[y] = roi.Y + i0;
            _y1[y] = roi.Y + i1;
            _wy[y] = w;
        }

        if (_rows[0].Length != _scaledWidth * 3)
        {
            _rows = [new float[_scaledWidth * 3], new float[_scaledWidth * 3]];
        }

        _planar = planar;

        // Padding only changes with the geometry: fill the whole tensor once, the picture area is overwritten per frame.
        tensor.Fill((_norm.PadValue * _norm.Scale) + _norm.Offset);
    }

    private bool _planar;

    /// <summary>Scratch: one source row converted from yuv420p, as three planes of the frame's width (R, G, B).</summary>
    private byte[] _planes = [];

    private static void Resize<T>(ref T[] array, int length)
    {
        if (array.Length != length)
        {
            array = new T[length];
        }
    }

    /// <summary>Source indices and weight of output position <paramref name="o"/> (pixel centres aligned, edges clamped).</summary>
    private static (int I0, int I1, float W) Sample(int o, int sourceSize, int scaledSize)
    {
        var s = ((o + 0.5f) * sourceSize / scaledSize) - 0.5f;
        if (s <= 0)
        {
            return (0, 0, 0);
        }

        var i0 = (int)s;
        if (i0 >= sourceSize - 1)
        {
            return (sourceSize - 1, sourceSize - 1, 0);
        }

        return (i0, i0 + 1, s - i0);
    }

    /// <summary>Source row <paramref name="y"/> resampled horizontally and normalised (interleaved or planar).</summary>
    private Span<float> Row(ReadOnlySpan<byte> pixels, bool yuv, int width, int height, int y)
    {
        var slot = y & 1;
        var row = _rows[slot];
        if (_rowTags[slot] == y)
        {
            return row;
        }

        _rowTags[slot] = y;

        // The three channels of source row y: every third byte of an rgb24 row, or the planes a yuv420p row converts into.
        ReadOnlySpan<byte> c0, c1, c2;
        if (yuv)
        {
            if (_planes.Length != width * 3)
            {
                _planes = new byte[width * 3];
            }

            var roi = _geometry.Roi;
            var planes = _planes.AsSpan();
            Span<byte> r = planes[..width], g = planes.Slice(width, width), b = planes.Slice(2 * width, width);
            Yuv420p.ToRgbPlanesRow(pixels, width, height, y, roi.X, roi.X + roi.Width, r, g, b);
            c0 = r;
            c1 = g;
            c2 = b;
        }
        else
        {
            var src = pixels.Slice(y * width * 3, width * 3);
            c0 = src;
            c1 = src[1..];
            c2 = src[2..];
        }

        var scale = _norm.Scale;
        var offset = _norm.Offset;
        var n = _scaledWidth;

        // Planar output: channel k of pixel x at k × n + x; interleaved: at 3x + k.
        var (stride, channelOffset) = _planar ? (1, n) : (3, 1);
        for (var x = 0; x < n; x++)
        {
            int p0 = _x0[x], p1 = _x1[x];
            var w = _wx[x];
            var o = x * stride;
            row[o] = (Lerp(c0[p0], c0[p1], w) * scale) + offset;
            row[o + channelOffset] = (Lerp(c1[p0], c1[p1], w) * scale) + offset;
            row[o + (2 * channelOffset)] = (Lerp(c2[p0], c2[p1], w) * scale) + offset;
        }

        return row;
    }

    private static float Lerp(byte a, byte b, float w) => a + ((b - a) * w);

    /// <summary><c>dst = a + (b − a) × w</c>, vectorised.</summary>
    private static void Blend(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float w, Span<float> dst)
    {
        var i = 0;
        if (w == 0)
        {
            a.CopyTo(dst);
            return;
        }

        if (Vector.IsHardwareAccelerated)
        {
            var vw = new Vector<float>(w);
            for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var va = new Vector<float>(a[i..]);
                var vb = new Vector<float>(b[i..]);
                (va + ((vb - va) * vw)).CopyTo(dst[i..]);
            }
        }

        for (; i < a.Length; i++)
        {
            dst[i] = a[i] + ((b[i] - a[i]) * w);
        }
    }
}
