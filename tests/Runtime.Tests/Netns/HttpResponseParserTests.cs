using System.Buffers;
using System.Text;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

public sealed class HttpResponseParserTests
{
    private static ResponseParseResult Parse(string text, string method = "GET") =>
        HttpResponseParser.Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), method);

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", BodyFraming.Length, 5L, false)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", BodyFraming.Chunked, 0L, false)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "GET", BodyFraming.Chunked, 0L, false)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", BodyFraming.UntilClose, 0L, true)]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", "GET", BodyFraming.UntilClose, 0L, true)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", BodyFraming.None, 0L, false)]
    [InlineData("HTTP/1.1 204 No Content\r\n\r\n", "DELETE", BodyFraming.None, 0L, false)]
    [InlineData("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", BodyFraming.None, 0L, false)]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\n", "POST", BodyFraming.None, 0L, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "GET", BodyFraming.Length, 2L, true)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", "GET", BodyFraming.Length, 2L, true)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", "GET", BodyFraming.Length, 2L, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "GET", BodyFraming.Length, 3L, false)]
    [InlineData("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", "GET", BodyFraming.Length, 0L, false)]
    public void FramingFollowsRfc9112(string text, string method, BodyFraming framing, long length, bool closes)
    {
        ResponseParseResult r = Parse(text, method);
        Assert.Equal(HeadParseStatus.Parsed, r.Status);
        HttpResponseHead head = r.Head!;
        Assert.Equal(framing, head.Framing);
        Assert.Equal(length, head.ContentLength);
        Assert.Equal(closes, head.ServerCloses);
        Assert.Equal(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4, head.HeadLength);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\nContent-Length: 0\n\n", "CRLF")]
    [InlineData("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "CRLF")]
    [InlineData("HTTP/2 200 OK\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 099 Odd\r\n\r\n", "status line")]
    [InlineData("ICY 200 OK\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "conflicting Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "field name")]
    [InlineData("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "field name")]
    [InlineData("HTTP/1.1 200 OK\r\nX: a\u0001b\r\n\r\n", "control character")]
    public void AmbiguousResponsesAreRefused(string text, string reason)
    {
        ResponseParseResult r = Parse(text);
        Assert.Equal(HeadParseStatus.Rejected, r.Status);
        Assert.Contains(reason, r.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void IncompleteHeadsWaitAndOversizedOnesAreRefused()
    {
        Assert.Equal(HeadParseStatus.Incomplete, Parse("HTTP/1.1 200 OK\r\nContent-Le").Status);
        Assert.Equal(HeadParseStatus.Incomplete, Parse("HTTP/1.1 2").Status);
        string huge = "HTTP/1.1 200 OK\r\n" + string.Concat(Enumerable.Repeat("X-Fill: " + new string('a', 1000) + "\r\n", 70));
        Assert.Equal(HeadParseStatus.Rejected, Parse(huge).Status);
    }

    /// <summary>Arbitrary and mutated bytes: never throws, segment splits never change the result, and a parsed head never claims more bytes than it was given.</summary>
    [Fact]
    public void RandomBytesNeverThrowAndSplitsDoNotMatter()
    {
        var random = new Random(4242);
        string[] corpus =
        [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ];
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = Encoding.Latin1.GetBytes(corpus[random.Next(corpus.Length)]);
            int edits = random.Next(4);
            for (int e = 0; e < edits; e++)
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (random.Next(4) == 0)
                bytes = [.. bytes.Take(random.Next(bytes.Length))];
            if (random.Next(8) == 0)
            {
                bytes = new byte[random.Next(200)];
                random.NextBytes(bytes);
            }
            ResponseParseResult whole = HttpResponseParser.Parse(new ReadOnlySequence<byte>(bytes), "GET");
            ResponseParseResult split = HttpResponseParser.Parse(Segments(bytes, random), "GET");
            Assert.Equal(whole.Status, split.Status);
            Assert.Equal(whole.Head?.HeadLength, split.Head?.HeadLength);
            Assert.Equal(whole.Head?.Framing, split.Head?.Framing);
            if (whole.Head is { } h)
                Assert.InRange(h.HeadLength, 4, bytes.Length);
        }
    }

    private static ReadOnlySequence<byte> Segments(byte[] bytes, Random random)
    {
        if (bytes.Length < 2)
            return new ReadOnlySequence<byte>(bytes);
        int cut = random.Next(1, bytes.Length);
        var first = new Segment(bytes.AsMemory(0, cut), 0);
        Segment last = first.Append(bytes.AsMemory(cut));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long index)
        {
            Memory = memory;
            RunningIndex = index;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
