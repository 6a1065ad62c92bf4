using System.Globalization;
using System.Net.Http;

namespace Sandboxrun.Probe;

/// <summary>A .NET HttpClient as an agent would use it: the proxy comes from http_proxy/https_proxy in the environment.</summary>
internal static class HttpCommands
{
    /// <summary>GET the URL; prints the body, then "ok STATUS" (any HTTP answer) or "err HTTP detail" (no answer).</summary>
    public static Outcome Get(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        try
        {
            using HttpResponseMessage response = client.GetAsync(new Uri(url)).GetAwaiter().GetResult();
            string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            Out.Line(body);
            return Outcome.Ok(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException e)
        {
            return Outcome.Fail("HTTP", e.Message);
        }
        catch (TaskCanceledException e)
        {
            return Outcome.Fail("HTTP", e.Message);
        }
    }
}
