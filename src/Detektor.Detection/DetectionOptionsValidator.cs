using System.Globalization;
using Detektor.Core.Frames;
using Detektor.Detection.Decoding;
using Detektor.Detection.Inference;
using Microsoft.Extensions.Options;

namespace Detektor.Detection;

/// <summary>
/// What DataAnnotations cannot say about <see cref="DetectionOptions"/>: model paths, providers, labels and per-camera
/// values. Each problem is one line naming the full key, e.g. <c>Detektor:Detection:Cameras:front:DetectFps: 500 is out
/// of range; allowed 0 to 120.</c>
/// </summary>
public sealed class DetectionOptionsValidator : IValidateOptions<DetectionOptions>
{
    private const string S = DetectionOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, DetectionOptions options)
    {
        var errors = new List<string>();
        for (var i = 0; i < options.ExecutionProviders.Count; i++)
        {
            if (!ExecutionProviders.All.Contains(options.ExecutionProviders[i]))
            {
                errors.Add($"{S}:ExecutionProviders:{i}: '{options.ExecutionProviders[i]}' is not allowed; use one of: {string.Join(", ", ExecutionProviders.All)}.");
            }
        }

        if (!string.Equals(options.ObjectModel, DetectionOptions.DefaultObjectModel, StringComparison.Ordinal))
        {
            RequireOnnxFile(options.ObjectModel, $"{S}:ObjectModel", $"'{DetectionOptions.DefaultObjectModel}' or the path of an .onnx file", errors);
        }

        if (options.FaceModel is not (DetectionOptions.DefaultFaceModel or DetectionOptions.FrontFaceModel))
        {
            RequireOnnxFile(options.FaceModel, $"{S}:FaceModel", $"'{DetectionOptions.DefaultFaceModel}', '{DetectionOptions.FrontFaceModel}' or the path of an .onnx file", errors);
        }

        LabelSet labels = LabelSet.Coco;
        if (!string.IsNullOrEmpty(options.LabelsFile))
        {
            if (!File.Exists(options.LabelsFile))
            {
                errors.Add($"{S}:LabelsFile: '{options.LabelsFile}' does not exist; give a text file with one label per line.");
            }
            else
            {
                try
                {
                    labels = LabelSet.Load(options.LabelsFile);
                }
                catch (InvalidDataException ex)
                {
                    errors.Add($"{S}:LabelsFile: {ex.Message}");
                }
            }
        }

        CheckLabels(options.Labels, $"{S}:Labels", labels, errors);
        CheckScores(options.MinScores, $"{S}:MinScores", labels, errors);
        foreach (var (camera, cam) in options.Cameras)
        {
            var key = $"{S}:Cameras:{camera}";
            if (!CameraId.IsValid(camera))
            {
                errors.Add($"{key}: '{camera}' is not a camera name; it must be {CameraId.Rule}.");
            }

            if (cam.Labels is not null)
            {
                CheckLabels(cam.Labels, key + ":Labels", labels, errors);
            }

            if (cam.MinScores is not null)
            {
                CheckScores(cam.MinScores, key + ":MinScores", labels, errors);
            }

            CheckRange(cam.MinScore, key + ":MinScore", 0.01, 1, errors);
            CheckRange(cam.DetectFps, key + ":DetectFps", 0, 120, errors);
            CheckRange(cam.MotionThreshold, key + ":MotionThreshold", 0, 1, errors);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void RequireOnnxFile(string path, string key, string allowed, List<string> errors)
    {
        if (!path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || !File.Exists(path))
        {
            errors.Add($"{key}: '{path}' is not allowed; use {allowed} that exists.");
        }
    }

    private static void CheckLabels(List<string> values, string key, LabelSet labels, List<string> errors)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (labels.IndexOf(values[i]) < 0)
            {
                errors.Add($"{key}:{i}: '{values[i]}' is not a label of the model; allowed: {Describe(labels)}.");
            }
        }
    }

    private static void CheckScores(Dictionary<string, double> values, string key, LabelSet labels, List<string> errors)
    {
        foreach (var (label, score) in values)
        {
            if (labels.IndexOf(label) < 0)
            {
                errors.Add($"{key}:{label}: '{label}' is not a label of the model; allowed: {Describe(labels)}.");
            }

            CheckRange(score, $"{key}:{label}", 0.01, 1, errors);
        }
    }

    private static void CheckRange(double? value, string key, double min, double max, List<string> errors)
    {
        if (value is { } v && (double.IsNaN(v) || v < min || v > max))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{key}: {v} is out of range; allowed {min} to {max}."));
        }
    }

    private static string Describe(LabelSet labels) =>
        labels.Count <= 12 ? string.Join(", ", labels.Names) : string.Join(", ", labels.Names.Take(10)) + $", … ({labels.Count} labels)";
}
