using Detektor.Core.Messages;

namespace Detektor.Imaging;

/// <summary>Draws rectangle outlines straight into rgb24 pixels (for snapshots with the detection drawn).</summary>
public static class BoxDrawing
{
    public readonly record struct Rgb(byte R, byte G, byte B)
    {
        public static Rgb Red { get; } = new(230, 40, 40);

        public static Rgb Green { get; } = new(40, 200, 70);

        public static Rgb Yellow { get; } = new(240, 200, 20);
    }

    /// <summary>Draws the outline of <paramref name="box"/>, clipped to the image, <paramref name="thickness"/> pixels wide.</summary>
    public static void DrawBox(Span<byte> rgb24, int width, int height, BoundingBox box, Rgb color, int thickness = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(rgb24.Length, width * height * 3);
        var x0 = Clamp((int)MathF.Floor(box.X), width);
        var y0 = Clamp((int)MathF.Floor(box.Y), height);
        var x1 = Clamp((int)MathF.Ceiling(box.Right) - 1, width);
        var y1 = Clamp((int)MathF.Ceiling(box.Bottom) - 1, height);
        if (x1 < x0 || y1 < y0)
        {
            return;
        }

        for (var t = 0; t < thickness; t++)
        {
            HLine(rgb24, width, x0, x1, Math.Min(y0 + t, y1), color);
            HLine(rgb24, width, x0, x1, Math.Max(y1 - t, y0), color);
            VLine(rgb24, width, Math.Min(x0 + t, x1), y0, y1, color);
            VLine(rgb24, width, Math.Max(x1 - t, x0), y0, y1, color);
        }
    }

    private static int Clamp(int v, int size) => Math.Clamp(v, 0, size - 1);

    private static void HLine(Span<byte> p, int width, int x0, int x1, int y, Rgb c)
    {
        for (var x = x0; x <= x1; x++)
        {
            Set(p, ((y * width) + x) * 3, c);
        }
    }

    private static void VLine(Span<byte> p, int width, int x, int y0, int y1, Rgb c)
    {
        for (var y = y0; y <= y1; y++)
        {
            Set(p, ((y * width) + x) * 3, c);
        }
    }

    private static void Set(Span<byte> p, int i, Rgb c)
    {
        p[i] = c.R;
        p[i + 1] = c.G;
        p[i + 2] = c.B;
    }
}
