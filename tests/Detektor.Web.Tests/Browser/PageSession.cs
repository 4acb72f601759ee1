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
    /// Waits until the page is at a URL matching <paramref name="urlGlob"/> (<c>**</c> any characters, <c>*</c> any but
    /// <c>/</c>, everything else literal) and its document is parsed — both polled in the page, which Playwright re-runs
    /// across navigations. Not <c>WaitForURLAsync</c>: by default it also waits for the <c>load</c> event, which in CI once
    /// never came for a page that had navigated; and with <c>WaitUntil = Commit</c> it still waits for <c>load</c> when the
    /// URL already matches (playwright-dotnet issue 3365), which timed out in CI on 2026-11-24 after a click had already
    /// navigated. What a test needs after that (an image decoded, an element present) it waits for itself.
    /// </summary>
    public async Task NavigatedToAsync(string urlGlob) =>
        await Page.WaitForFunctionAsync(
            "pattern => new RegExp(pattern).test(location.href) && document.readyState !== 'loading'", GlobToRegex(urlGlob));

    /// <summary>The regular expression (anchored) of a URL glob as <see cref="NavigatedToAsync"/> takes it.</summary>
    public static string GlobToRegex(string glob)
    {
        var regex = new System.Text.StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            if (glob[i] == '*')
            {
                var any = i + 1 < glob.Length && glob[i + 1] == '*';
                regex.Append(any ? ".*" : "[^/]*");
                i += any ? 1 : 0;
            }
            else
            {
                regex.Append(System.Text.RegularExpressions.Regex.Escape(glob[i].ToString()));
            }
        }

        return regex.Append('$').ToString();
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
