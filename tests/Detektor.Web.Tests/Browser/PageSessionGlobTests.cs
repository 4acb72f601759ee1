using System.Text.RegularExpressions;

namespace Detektor.Web.Tests.Browser;

/// <summary>The URL globs the browser tests wait for, as regular expressions (what the page polls).</summary>
public sealed class PageSessionGlobTests
{
    [Theory]
    [InlineData("**/events/trk_*", "http://127.0.0.1:5000/events/trk_0192abc", true)]
    [InlineData("**/events/trk_*", "http://127.0.0.1:5000/events/trk_1/frames", false)] // * stops at /
    [InlineData("**/events?*label=person*", "http://127.0.0.1:5000/events?camera=demo&label=person&limit=20", true)]
    [InlineData("**/login?returnUrl=%2Fframes", "http://127.0.0.1:5000/login?returnUrl=%2Fframes", true)]
    [InlineData("**/login?returnUrl=%2Fframes", "http://127.0.0.1:5000/loginXreturnUrl=%2Fframes", false)] // ? is literal
    [InlineData("**/system", "http://127.0.0.1:5000/system", true)]
    [InlineData("**/system", "http://127.0.0.1:5000/system/health", false)]
    [InlineData("**/frames?q=*", "http://127.0.0.1:5000/frames?q=20261124T110430.123456Z-demo-7-3f9a1c2d", true)]
    public void GlobToRegex_MatchesAsPlaywrightGlobsDo(string glob, string url, bool matches) =>
        Assert.Equal(matches, Regex.IsMatch(url, PageSession.GlobToRegex(glob)));
}
