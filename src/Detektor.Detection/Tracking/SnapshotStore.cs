using Detektor.Core.Frames;
using Detektor.Core.Messages;
using Detektor.Imaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Tracking;

/// <summary>
/// The best snapshots of tracked objects: one JPEG per object (<c>{camera}/{object id}.jpg</c> under the snapshots
/// directory), replaced atomically when a better view comes. Paths given out and accepted are relative to the directory;
/// <see cref="Resolve"/> refuses anything that would lead outside it.
/// </summary>
public sealed class SnapshotStore
{
    public SnapshotStore(IOptions<DetectionOptions> options, IConfiguration configuration)
        : this(ResolveDirectory(options.Value, configuration), options.Value.Tracking.SnapshotQuality)
    {
    }

    public SnapshotStore(string directory, int quality)
    {
        Directory = Path.GetFullPath(directory);
        Quality = quality;
    }

    public string Directory { get; }

    public int Quality { get; }

    /// <summary>
    /// <c>Detektor:Detection:Tracking:SnapshotsDirectory</c>, else the directory retention prunes
    /// (<c>Detektor:Storage:Retention:SnapshotsPath</c>), else <c>{Detektor:DataDir}/snapshots</c>, else <c>data/snapshots</c>:
    /// either key moves both the writer and the pruning.
    /// </summary>
    public static string ResolveDirectory(DetectionOptions options, IConfiguration configuration) =>
        Path.GetFullPath(options.Tracking.SnapshotsDirectory
            ?? configuration["Detektor:Storage:Retention:SnapshotsPath"]
            ?? Path.Combine(configuration["Detektor:DataDir"] ?? "data", "snapshots"));

    /// <summary>
    /// Writes the frame (rgb24) with <paramref name="box"/> drawn as the object's snapshot; returns the relative path.
    /// The frame's pixels are copied first: they belong to the pipeline.
    /// </summary>
    public string Write(string cameraId, string objectId, ReadOnlySpan<byte> rgb24, int width, int height, BoundingBox box) =>
        Write(cameraId, objectId, rgb24, PixelFormats.Rgb24, width, height, box);

    /// <summary>
    /// Writes the frame (rgb24, or yuv420p converted) with <paramref name="box"/> drawn as the object's snapshot; returns the
    /// relative path. The frame's pixels are copied (or converted) first: they belong to the pipeline.
    /// </summary>
    public string Write(string cameraId, string objectId, ReadOnlySpan<byte> frame, string pixelFormat, int width, int height, BoundingBox box)
    {
        var relative = RelativePath(cameraId, objectId);
        var path = Path.Combine(Directory, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var copy = System.Buffers.ArrayPool<byte>.Shared.Rent(width * height * 3);
        try
        {
            var pixels = copy.AsSpan(0, width * height * 3);
            Yuv420p.CopyToRgb24(frame, pixelFormat, width, height, pixels);

            BoxDrawing.DrawBox(pixels, width, height, box, BoxDrawing.Rgb.Green, Math.Max(2, width / 320));
            var temp = path + ".tmp";
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
            {
                ImageCodec.EncodeJpeg(pixels, width, height, file, Quality);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(copy);
        }

        return relative;
    }

    /// <summary>The file of a relative snapshot path, or null when the path is not one of ours (absolute, or leading outside).</summary>
    public string? Resolve(string? relativePath)
    {
        if (string.IsNullOrWhiteSpace(relativePath) || Path.IsPathRooted(relativePath))
        {
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(Directory, relativePath));
        return full.StartsWith(Directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? full : null;
    }

    private static string RelativePath(string cameraId, string objectId) => Path.Combine(Safe(cameraId), Safe(objectId) + ".jpg");

    /// <summary>Camera names are validated at start, but a file name must never carry a separator or a dot-dot.</summary>
    private static string Safe(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '-' or '_'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }
}
