namespace Detektor.Detection;

/// <summary>Names of the converted CenterNet model's tensors (the TF.js names, kept by the converter).</summary>
public static class CenterNetModelInfo
{
    public const string Input = "tower_0/images";
    public const string KeypointsOutput = "tower_0/keypoints";
    public const string WhOutput = "tower_0/wh";
}
