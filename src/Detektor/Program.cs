using Detektor.Cli;

return await DetektorCli.InvokeAsync(args);
