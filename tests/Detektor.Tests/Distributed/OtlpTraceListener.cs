// The loopback OTLP receiver lives in src (detektor loadtest reads its spans with it); these tests use it under their old names.
global using ExportedSpan = Detektor.LoadTest.ExportedSpan;
global using OtlpTraceListener = Detektor.LoadTest.OtlpReceiver;
