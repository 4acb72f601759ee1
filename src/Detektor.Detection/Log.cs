using Microsoft.Extensions.Logging;

namespace Detektor.Detection;

/// <summary>Every log message of the detection component.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Model {Model} opened on execution provider {Provider} (passed over: {Fallbacks})")]
    public static partial void SessionOpened(ILogger logger, string model, string provider, string fallbacks);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Downloading model {Model} from {Url}")]
    public static partial void Downloading(ILogger logger, string model, string url);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Model {Model} converted to ONNX ({Bytes} bytes)")]
    public static partial void ModelConverted(ILogger logger, string model, int bytes);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "Detector {Detector} is unavailable, frames are skipped (detector_unavailable): {Reason}")]
    public static partial void DetectorUnavailable(ILogger logger, string detector, string reason);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Information, Message = "Detector {Detector} ready: model {Model}, input {Input}, provider {Provider}")]
    public static partial void DetectorReady(ILogger logger, string detector, string model, string input, string provider);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "GPU metrics: {State}")]
    public static partial void GpuState(ILogger logger, string state);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Information, Message = "Model {Model}: {Outcome}")]
    public static partial void ModelPulled(ILogger logger, string model, string outcome);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Warning, Message = "Snapshot of tracked object {ObjectId} on camera {Camera} could not be written: {Error}")]
    public static partial void SnapshotFailed(ILogger logger, string camera, string objectId, string error);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Warning, Message = "Detection:InferenceNice {Nice} could not be applied (not Linux, or setpriority refused): inference runs at the process's priority")]
    public static partial void NiceRefused(ILogger logger, int nice);
}
