using Detektor.Bus;
using Detektor.Hosting;
using Detektor.Processing;
using Detektor.Processor1;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("detektor-processor-name");
builder.AddInProcessBus();
builder.AddFrameProcessing();
builder.AddFrameProcessor<Processor>();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
