using Microsoft.Playwright;

namespace Detektor.Web.Tests.Browser;

/// <summary>One browser page that records console errors and page errors, and saves screenshots as test artefacts.</summary>
internal sealed class PageSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;
    private readonly List<string> _errors = [];

    private PageSession(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (_errors)
                {
                    _errors.Add($"console: {message.Text} ({message.Location})");
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (_errors)
            {
                _errors.Add($"page error: {error}");
            }
        };
    }

    public IPage Page { get; }

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    public static async Task<PageSession> OpenAsync(BrowserFixture fixture, int width = 1280, int height = 900)
    {
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = fixture.Host.BaseUrl,
            ViewportSize = new ViewportSize { Width = width, Height = height },
            TimezoneId = "America/New_York",
            Locale = "en-US",
        });
        context.SetDefaultTimeout(90_000); // a wait bound, not a timing assertion: CI machines are shared and busy
        return new PageSession(context, await context.NewPageAsync());
    }

    /// <summary>
    /// Waits until the page is at a URL matching <paramref name="urlGlob"/> and its document is parsed. Not
    /// <c>WaitForURLAsync</c>'s default, which also waits for the <c>load</c> lifecycle event: in CI it once waited 90 s
    /// for a <c>load</c> of a page that had already navigated (its log shows <c>networkidle</c> firing, never <c>load</c>).
    /// The readiness that matters is polled in the DOM instead; what a test needs after that (an image decoded, an
    /// element present) it waits for itself.
    /// </summary>
    public async Task NavigatedToAsync(string urlGlob)
    {
        await Page.WaitForURLAsync(urlGlob, new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
        await Page.WaitForFunctionAsync("() => document.readyState !== 'loading'");
    }

    public void AssertNoErrors()
    {
        var errors = Errors;
        Assert.True(errors.Count == 0, "browser errors:\n" + string.Join('\n', errors));
    }

    public async Task ScreenshotAsync(string name) =>
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, name + ".png"), FullPage = true });

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}
