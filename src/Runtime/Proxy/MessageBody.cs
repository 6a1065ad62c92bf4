using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Sandboxrun.Netns.Egress;

namespace Sandboxrun.Proxy;

/// <summary>
/// Copies exactly one message body from a pipe to a stream, by its framing (RFC 9112 §6.3):
/// nothing after it (a pipelined request, or bytes a server sends past its response) is passed
/// on as part of it. Chunked bodies are forwarded verbatim, chunk lines checked.
/// </summary>
internal static class MessageBody
{
    private const int MaxChunkLine = 4096;

    /// <summary>Returns the bytes written to <paramref name="to"/>; <paramref name="progress"/> hears of every write (idle timers).</summary>
    public static async Task<long> Copy(PipeReader from, Stream to, BodyFraming framing, long length, CancellationToken token, Action<long>? progress = null)
    {
        switch (framing)
        {
            case BodyFraming.None:
                return 0;
            case BodyFraming.Length:
                await CopyExactly(from, to, length, token, progress).ConfigureAwait(false);
                return length;
            case BodyFraming.UntilClose:
                return await CopyToEnd(from, to, token, progress).ConfigureAwait(false);
            case BodyFraming.Chunked:
                return await CopyChunked(from, to, token, progress).ConfigureAwait(false);
            default:
                throw new ArgumentOutOfRangeException(nameof(framing));
        }
    }

    private static async Task<long> CopyChunked(PipeReader from, Stream to, CancellationToken token, Action<long>? progress)
    {
        long total = 0;
        while (true) // chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF
        {
            string line = await ForwardLine(from, to, token).ConfigureAwait(false);
            total += line.Length + 2;
            int semi = line.IndexOf(';', StringComparison.Ordinal);
            string size = (semi < 0 ? line : line[..semi]).TrimEnd(' ', '\t');
            if (size.Length is 0 or > 15 || !long.TryParse(size, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long n))
                throw new IOException("bad chunk size");
            if (n == 0)
            {
                string trailer;
                do
                {
                    trailer = await ForwardLine(from, to, token).ConfigureAwait(false);
                    total += trailer.Length + 2;
                }
                while (trailer.Length > 0);
                return total;
            }
            await CopyExactly(from, to, n, token, progress).ConfigureAwait(false);
            string end = await ForwardLine(from, to, token).ConfigureAwait(false);
            if (end.Length != 0)
                throw new IOException("chunk data not followed by CRLF");
            total += n + 2;
        }
    }

    /// <summary>Reads one CRLF-terminated line (bounded), forwards it, returns it without CRLF.</summary>
    private static async Task<string> ForwardLine(PipeReader from, Stream to, CancellationToken token)
    {
        while (true)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            SequencePosition? lf = read.Buffer.PositionOf((byte)'\n');
            if (lf is SequencePosition at)
            {
                ReadOnlySequence<byte> line = read.Buffer.Slice(0, read.Buffer.GetPosition(1, at));
                byte[] bytes = line.ToArray();
                if (bytes.Length < 2 || bytes[^2] != '\r' || Array.IndexOf(bytes, (byte)'\r') != bytes.Length - 2)
                    throw new IOException("a chunk line not ending in CRLF");
                await to.WriteAsync(bytes, token).ConfigureAwait(false);
                from.AdvanceTo(line.End);
                return Encoding.Latin1.GetString(bytes, 0, bytes.Length - 2);
            }
            if (read.IsCompleted || read.Buffer.Length > MaxChunkLine)
                throw new IOException("truncated or oversized chunk line");
            from.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private static async Task CopyExactly(PipeReader from, Stream to, long length, CancellationToken token, Action<long>? progress = null)
    {
        while (length > 0)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            ReadOnlySequence<byte> chunk = read.Buffer.Slice(0, Math.Min(length, read.Buffer.Length));
            foreach (ReadOnlyMemory<byte> segment in chunk)
                await to.WriteAsync(segment, token).ConfigureAwait(false);
            length -= chunk.Length;
            from.AdvanceTo(chunk.End);
            progress?.Invoke(chunk.Length);
            if (length > 0 && read.IsCompleted)
                throw new IOException("message body truncated");
        }
    }

    /// <summary>Everything until end of stream; <paramref name="progress"/> hears of every write (byte counts, idle timers).</summary>
    public static async Task<long> CopyToEnd(PipeReader from, Stream to, CancellationToken token, Action<long>? progress = null)
    {
        long total = 0;
        while (true)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                await to.WriteAsync(segment, token).ConfigureAwait(false);
            total += read.Buffer.Length;
            from.AdvanceTo(read.Buffer.End);
            if (!read.Buffer.IsEmpty)
                progress?.Invoke(read.Buffer.Length);
            if (read.IsCompleted)
                return total;
        }
    }
}
