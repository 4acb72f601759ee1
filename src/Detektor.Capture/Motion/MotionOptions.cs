namespace Detektor.Capture.Motion;

/// <summary>Motion scoring of every captured frame (section <c>Detektor:Capture:Motion</c>).</summary>
public sealed class MotionOptions
{
    /// <summary>Score motion at capture (written to the frame's metadata). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Width of the grayscale image motion is measured on (the frame is box-downscaled by a whole factor). 16–640, default 160.</summary>
    public int AnalysisWidth { get; set; } = 160;

    /// <summary>A pixel counts as changed when its gray level differs from the background by more than this. 1–255, default 25.</summary>
    public int PixelThreshold { get; set; } = 25;

    /// <summary>How fast the background follows the picture: the weight of each new frame. 0.001–1, default 0.05.</summary>
    public double BackgroundRate { get; set; } = 0.05;

    /// <summary>Share of changed pixels below which a frame has no motion (and no motion boxes). 0–1, default 0.002.</summary>
    public double ScoreThreshold { get; set; } = 0.002;

    /// <summary>Motion boxes smaller than this share of the frame are left out. 0–1, default 0.001.</summary>
    public double MinBoxArea { get; set; } = 0.001;

    /// <summary>At most this many motion boxes per frame, the largest first. 1–256, default 16.</summary>
    public int MaxBoxes { get; set; } = 16;
}
