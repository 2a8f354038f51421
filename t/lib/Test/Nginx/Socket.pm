package Test::Nginx::Socket;

# A small Test::Nginx::Socket-compatible test scaffold: blocks are parsed
# by Test::Base, requests go over a raw socket (HTTP/1.1, Connection: close
# by default) and responses are checked section by section, counting one
# assertion per check the same way the upstream openresty/test-nginx does,
# so .t files written for upstream run unchanged.

use strict;
use warnings;

# upstream puts these on @INC too
use lib 'lib';
use lib 'inc';

use Test::Base -base;

our $VERSION = '0.30';

use Encode ();
use Digest::MD5 ();
use Digest::SHA ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(min);
use POSIX qw(EAGAIN EWOULDBLOCK EINTR WNOHANG);
use Time::HiRes qw(sleep);
use Test::LongString;

use Test::Nginx::Util;

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check
);

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;

our @ResponseBodyChecks;

sub send_request ($$$$;$);
sub value_contains ($$);

sub set_http_config_filter ($) { $FilterHttpConfig = shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

# ---------------------------------------------------------------------------
# Building requests

# "METHOD [URI [VERSION]]\n[body]"
sub parse_request ($$) {
    my ($name, $text) = @_;

    my ($first, $content) = split /\n/, $text, 2;
    if (!defined $first || $first eq '') {
        bail_out("$name - Request line should be non-empty");
    }
    $first .= "\n" if defined $content;

    if ($first !~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' but got \"$first\".");
    }

    return {
        method   => $1,
        url      => $2 // '/',
        http_ver => $3 // 'HTTP/1.1',
        content  => $content // '',
    };
}

# "Name: value" lines (comments allowed); also reports chunked bodies
sub parse_more_headers ($) {
    my $in = shift;
    my ($out, $is_chunked) = ('');
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Full request text with Host, Connection and Content-Length filled in
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn, $text) = @_;

    my $req = parse_request($name, $text);
    my $content = $req->{content};

    my $len_header = '';
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more_headers =~ s/(?<!\r)\n/\r\n/gs;

    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";

    return "$req->{method} $req->{url} $req->{http_ver}\r\n$headers$content";
}

sub more_headers_for ($$$) {
    my ($name, $more_headers, $idx) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $hdr = $more_headers->[$idx];
        bail_out("--- more_headers lacks data for the request $idx") if !defined $hdr;
        return parse_more_headers($hdr);
    }
    return parse_more_headers($more_headers);
}

# A request given as packets: the headers are added to the packet holding
# the request line, the remaining packets are sent as they are.
sub build_packets ($$$$) {
    my ($name, $hdr, $is_chunked, $packets) = @_;

    my @values = map { ref $_ ? $_->{value} : $_ } @$packets;
    my $full = build_request($name, $hdr, $is_chunked, 'close', join '', @values);

    my $tail = join '', @values[1 .. $#values];
    my @out;
    if (@values > 1 && substr($full, -length $tail) eq $tail) {
        push @out, { value => substr($full, 0, length($full) - length $tail) };
        for my $i (1 .. $#values) {
            my $p = $packets->[$i];
            push @out, ref $p ? { %$p } : { value => $p };
        }
    } else {
        push @out, { value => $full };
    }
    return \@out;
}

# List of requests, each a list of packets ({ value, delay_before })
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        if (ref $raw eq 'ARRAY') {
            push @reqs, [ map { { value => $_ } } @$raw ];
        } else {
            push @reqs, [ { value => $raw } ];
        }
        return \@reqs;
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    }

    my $more_headers = $block->more_headers // '';

    if (my $pipelined = $block->pipelined_requests) {
        if (ref $pipelined ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests");
        }
        my $data = '';
        for my $i (0 .. $#$pipelined) {
            my ($hdr, $is_chunked) = more_headers_for($name, $more_headers, $i);
            my $conn = $i == $#$pipelined ? 'close' : 'keep-alive';
            $data .= build_request($name, $hdr, $is_chunked, $conn, $pipelined->[$i]);
        }
        push @reqs, [ { value => $data } ];
        return \@reqs;
    }

    if (!ref $request) {
        my ($hdr, $is_chunked) = more_headers_for($name, $more_headers, 0);
        push @reqs, [ { value => build_request($name, $hdr, $is_chunked, 'close', $request // '') } ];

    } elsif (ref $request eq 'ARRAY') {
        for my $i (0 .. $#$request) {
            my $one = $request->[$i];
            my ($hdr, $is_chunked) = more_headers_for($name, $more_headers, $i);
            if (!ref $one) {
                push @reqs, [ { value => build_request($name, $hdr, $is_chunked, 'close', $one) } ];
            } elsif (ref $one eq 'ARRAY') {
                push @reqs, build_packets($name, $hdr, $is_chunked, $one);
            } else {
                bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
            }
        }

    } else {
        bail_out("$name - invalid ---request : MUST be string or array of requests");
    }

    return \@reqs;
}

# ---------------------------------------------------------------------------
# Talking to nginx

sub send_request ($$$$;$) {
    my ($req, $middle_delay, $timeout, $block, $tries) = @_;
    my $name = $block->name;

    my @bits = map { { %$_ } } @$req;
    my $head_req = (join '', map { $_->{value} } @bits) =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $addr = $block->server_addr_for_client // $ServerAddr;

    my $sock = IO::Socket::INET->new(
        PeerAddr => $addr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => $timeout,
    );

    if (!$sock) {
        my $err = $!;
        $tries ||= 1;
        my $total = $Test::Nginx::Util::TotalConnectingTimeouts ? 20 : 50;

        if ($tries <= $total) {
            my $wait = (sleep_time() + sleep_time() * $tries) * $tries / 2;
            $wait = 1 if $wait >= 1;

            if (defined $Test::Nginx::Util::ChildPid
                && waitpid($Test::Nginx::Util::ChildPid, WNOHANG) != 0)
            {
                warn "WARNING: Child process $Test::Nginx::Util::ChildPid is already gone.\n";
                warn `tail -n20 $Test::Nginx::Util::ErrLogFile 2>/dev/null`;
                undef $Test::Nginx::Util::ChildPid;
                Test::More->builder->no_ending(1);
                fail("$name - Can't connect to $addr:$ServerPortForClient: $err (aborted)\n");
                return (undef, $head_req);
            }

            if ($wait >= 0.6) {
                warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n";
                warn "\tRetry connecting after $wait sec\n" if $tries + 1 <= $total;
            }
            sleep $wait;
            return send_request($req, $middle_delay, $timeout, $block, $tries + 1);
        }

        my $msg = "$name - Can't connect to $addr:$ServerPortForClient: $err (aborted)\n";
        if (++$Test::Nginx::Util::TotalConnectingTimeouts < 3) {
            Test::More->builder->no_ending(1);
            fail($msg);
        } else {
            bail_out($msg);
        }
        return (undef, $head_req);
    }

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);

    my $resp = '';
    my $wbuf = (shift @bits)->{value};
    my $woff = 0;
    my $writing = 1;
    my $sel = IO::Select->new($sock);

    IO: while (1) {
        $! = 0;
        my ($readable, $writable) =
            IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);

        if (!$readable && !$writable) {
            if ($! != EINTR) {
                if (!defined $block->abort) {
                    Test::More->builder->no_ending(1);
                    fail("ERROR: client socket timed out - $name\n");
                } else {
                    sleep 0.005;
                }
                last IO;
            }
            next IO;
        }

        if ($writable && @$writable) {
            while (1) {
                my $rest = length($wbuf) - $woff;
                if ($rest > 0) {
                    my $n = syswrite $sock, $wbuf, $rest, $woff;
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        my $msg = "write failed: $!";
                        warn "$msg\n";
                        $resp = $msg if $resp eq '';
                        last IO;
                    }
                    $woff += $n;
                    next;
                }

                my $next = shift @bits;
                if (!$next) {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how =~ /^\s*$/;
                        shutdown $sock, $how;
                    }
                    last;
                }

                ($wbuf, $woff) = ($next->{value}, 0);
                my $delay = $next->{delay_before} // $middle_delay;
                sleep $delay if $delay;
            }
        }

        if ($readable && @$readable) {
            while (1) {
                my $buf;
                my $n = sysread $sock, $buf, 4096;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    warn "WARNING: $name - HTTP response read failure: $!\n";
                    last IO;
                }
                last IO if $n == 0;
                $resp .= $buf;
            }
        }
    }

    close $sock;
    return ($resp, $head_req);
}

# Returns (HTTP::Response, raw header text, bytes left after this response)
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;

    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $left;

    my $code = $res->code;
    if ($code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $enc && $enc eq 'chunked') {
        my $body = $res->content // '';
        my $decoded = '';
        pos($body) = 0;

        while (1) {
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                if (length($body) - pos($body) < $size) {
                    Test::More->builder->no_ending(1);
                    fail("$name - invalid chunked data received (not enought octets for the data section)");
                    return;
                }
                $decoded .= substr $body, pos($body), $size;
                pos($body) += $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More->builder->no_ending(1);
                    fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More->builder->no_ending(1);
                fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More->builder->no_ending(1);
                fail("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" if !$head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# Checks

sub get_indexed_value ($$$$) {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';

    SKIP: {
        skip "$name - tests skipped due to $dry_run", 1 if $dry_run;

        if (defined $block->error_code_like) {
            my $pat = get_indexed_value($name, $block->error_code_like, $idx, $need_array);
            like($code, qr/$pat/sm, "$name - status code ok");
        } elsif (defined $block->error_code) {
            is($code, get_indexed_value($name, $block->error_code, $idx, $need_array),
               "$name - status code ok");
        } else {
            is($code, 200, "$name - status code ok");
        }
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    for my $type (qw(like unlike)) {
        my $section = "raw_response_headers_$type";
        next if !defined $block->$section;
        SKIP: {
            skip "$name - $section - tests skipped due to $dry_run", 1 if $dry_run;
            my $pat = get_indexed_value($name, $block->$section, $idx, $need_array);
            my $cmp = $type eq 'like' ? \&like : \&unlike;
            $cmp->($raw_headers, qr/$pat/s, "$name - raw resp headers $type");
        }
    }
}

# header order in the section is kept so failures are easy to find
sub _header_lines ($) {
    my $spec = shift;
    my $parsed = parse_headers($spec);
    my @keys;
    my %seen;
    for my $line (split /\n/, $spec) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my $key = $line =~ /^!\s*(.*)$/ ? $1 : (split /\s*:\s*/, $line, 2)[0];
        push @keys, $key if !$seen{$key}++;
    }
    return map { [$_, $parsed->{$_}] } @keys;
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $spec = get_indexed_value($name, $block->response_headers, $idx, $need_array);
        for my $pair (_header_lines($spec)) {
            my ($key, $val) = @$pair;

            if (!defined $val) {
                SKIP: {
                    skip "$name - response_headers - tests skipped due to $dry_run", 1 if $dry_run;
                    unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                           "$name - header $key not present in the raw headers");
                }
                next;
            }

            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = ($res ? $res->header($key) : undef) // '';

            SKIP: {
                skip "$name - response_headers - tests skipped due to $dry_run", 1 if $dry_run;
                is($actual, $val, "$name - header $key ok");
            }
        }

    } elsif (defined $block->response_headers_like) {
        my $spec = get_indexed_value($name, $block->response_headers_like, $idx, $need_array);
        for my $pair (_header_lines($spec)) {
            my ($key, $val) = @$pair;
            my $actual = ($res ? $res->header($key) : undef) // '';
            SKIP: {
                skip "$name - response_headers_like - tests skipped due to $dry_run", 1 if $dry_run;
                like($actual, qr/^$val$/, "$name - header $key like ok");
            }
        }
    }
}

sub run_filter ($$$) {
    my ($name, $filter, $content) = @_;

    return $filter->($content) if ref $filter eq 'CODE';
    bail_out("$name - the --- response_body_filters section only supports "
             . "subroutine reference values and string values") if ref $filter;

    my %builtin = (
        md5_hex  => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc       => sub { uc shift },
        lc       => sub { lc shift },
        ucfirst  => sub { ucfirst shift },
        lcfirst  => sub { lcfirst shift },
        length   => sub { length shift },
    );
    my $f = $builtin{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the --- response_body_filters section");
    return $f->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $idx) = @_;
    return if !$res || !defined $res->content;

    my $filters = $block->response_body_filters;
    return if !defined $filters;

    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx];
        bail_out("$name - the ---response_body_filters two-dimensional array "
                 . "unmatch the specified request($idx)") if !defined $filters;
    }

    my $content = $res->content;
    $content = run_filter($name, $_, $content) for @$filters;
    $res->content($content);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $idx, $repeated_idx, $need_array) = @_;
    my $name = $block->name;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if ($block->response_body_eval) {
            $expected = eval get_indexed_value($name, $block->response_body_eval, $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body, $idx, $need_array);
        }

        Encode::from_to($expected, 'UTF-8', $block->charset) if $block->charset;

        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }

        my $desc = "$name - response_body - response is expected (repeated req $repeated_idx, req $idx)";
        SKIP: {
            skip "$name - response_body - tests skipped due to $dry_run", 1 if $dry_run;
            if (ref $expected) {
                like($content, $expected, "$name - response_body - like (repeated req $repeated_idx, req $idx)");
            } elsif ($NoLongString) {
                is($content, $expected, $desc);
            } else {
                is_string($content, $expected, $desc);
            }
        }

    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $section = "response_body_$type";
        my $pat = get_indexed_value($name, $block->$section, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content) // '';
        my $cmp = $type eq 'like' ? \&like : \&unlike;

        SKIP: {
            skip "$name - response_body_$type - tests skipped due to $dry_run", 1 if $dry_run;
            $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $repeated_idx, $dry_run);
    }
}

sub fmt_str ($) {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub value_contains ($$) {
    my ($val, $pat) = @_;
    return $val =~ /\Q$pat\E/ if !ref $val || ref $val eq 'Regexp';
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if value_contains($v, $pat);
        }
    }
    return undef;
}

sub _patterns ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub _line_matches ($$) {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

# --- error_log / --- no_error_log (and access_log / no_access_log):
# one assertion per pattern
sub check_log_patterns ($$$$$$) {
    my ($block, $what, $file, $lines, $dry_run, $repeated_idx) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->$what)) {
        my $pats = _patterns($spec);
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !defined $pat || !_line_matches($line, $pat);
                SKIP: {
                    skip "$name - $what - tests skipped due to $dry_run", 1 if $dry_run;
                    pass("$name - pattern \"$pat\" matches a line in $file (req $repeated_idx)");
                }
                undef $pat;
            }
        }
        for my $pat (grep { defined } @$pats) {
            SKIP: {
                skip "$name - $what - tests skipped due to $dry_run", 1 if $dry_run;
                fail("$name - pattern \"$pat\" should match a line in $file (req $repeated_idx)");
            }
        }
    }

    my $no = "no_$what";
    if (defined(my $spec = $block->$no)) {
        my $pats = _patterns($spec);
        my %found;
        for my $i (0 .. $#$lines) {
            my $line = $lines->[$i];
            for my $pat (@$pats) {
                next if !defined $pat || !_line_matches($line, $pat);
                Test::More->builder->no_ending(1) if $found{$pat}++;
                SKIP: {
                    skip "$name - $no - tests skipped due to $dry_run ($line)", 1 if $dry_run;
                    my @more = @$lines[$i + 1 .. min($i + 9, $#$lines - 1)];
                    fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any line in $file "
                         . "but matches line \"" . fmt_str($line) . "\" (req $repeated_idx)\n"
                         . join '', @more);
                }
            }
        }
        for my $pat (@$pats) {
            next if !defined $pat || $found{$pat};
            SKIP: {
                skip "$name - $no - tests skipped due to $dry_run", 1 if $dry_run;
                pass("$name - pattern \"" . fmt_str($pat) . "\" does not match a line in $file (req $repeated_idx)");
            }
        }
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my %warn_on = map { $_ => 1 } qw(alert crit emerg);
    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next if !defined $pats;
        for my $level (keys %warn_on) {
            delete $warn_on{$level} if value_contains($pats, "[$level");
        }
    }

    my $grep_pats = $block->grep_error_log;
    if (defined $grep_pats) {
        my $grep_pat = ref $grep_pats eq 'ARRAY' ? $grep_pats->[$repeated_idx] : $grep_pats;
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            if !defined $expected;
        $expected = $expected->[$repeated_idx] if ref $expected eq 'ARRAY';

        if (defined $grep_pat) {
            SKIP: {
                skip "$name - error_log - tests skipped due to $dry_run", 1 if $dry_run;
                $lines ||= error_log_data() || [];
                my $matched = '';
                for my $line (@$lines) {
                    if ((ref $grep_pat && $line =~ /$grep_pat/) || $line =~ /\Q$grep_pat\E/) {
                        $matched .= "$&\n" if $& !~ /\n/;
                    }
                }
                my $desc = "$name - grep_error_log_out (req $repeated_idx)";
                if (ref $expected eq 'Regexp') {
                    like($matched, $expected, $desc);
                } elsif ($NoLongString) {
                    is($matched, $expected, $desc);
                } else {
                    is_string($matched, $expected, $desc);
                }
            }
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $block->error_log || defined $block->no_error_log) {
        $lines ||= error_log_data() || [];
        check_log_patterns($block, 'error_log', 'error.log', $lines, $dry_run, $repeated_idx);
    }

    if (!$dry_run) {
        $lines ||= error_log_data() || [];
        for my $line (@$lines) {
            for my $level (keys %warn_on) {
                warn "WARNING: $name - " . fmt_str($line) . "\n" if $line =~ /\[$level\]/;
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More->builder->no_ending(1);
            chomp(my $l = $line);
            fail("$name - $l\n");
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $repeated_idx) = @_;
    return if !defined $block->access_log && !defined $block->no_access_log;
    my $lines = access_log_data() || [];
    check_log_patterns($block, 'access_log', 'access.log', $lines, $dry_run, $repeated_idx);
}

# ---------------------------------------------------------------------------
# One run of a block's request(s)

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_idx) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") if !@$reqs;

    my $timeout = parse_time($block->timeout) // timeout();

    my ($res, $need_array);
    my $req_idx = 0;

    for my $i (0 .. $#$reqs) {
        my ($raw_resp, $head_req);
        if ($dry_run) {
            $raw_resp = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        } else {
            ($raw_resp, $head_req) = send_request($reqs->[$i], $block->raw_request_middle_delay,
                                                  $timeout, $block);
        }

        my $n = 0;
        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }

        while (1) {
            $raw_resp //= '';
            my ($raw_headers, $left);

            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw_resp);
                    $raw_headers = '';
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw_resp, $head_req);
                }
            }

            if (!$n) {
                if (defined $left && $left ne '') {
                    (my $show = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in response: \"$show\"\n";
                }
            } else {
                $raw_resp = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers // '', $dry_run, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers // '', $dry_run, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $dry_run, $req_idx, $repeated_idx, $need_array);
            }

            # error log checks run after every request of a multi-request block
            if ($n || $req_idx < @$reqs - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_idx, $need_array);
                check_access_log($block, $dry_run, $repeated_idx) if !defined $block->ignore_response;
            }

            $req_idx++;
            last if !$n;
        }
    }

    sleep $block->wait if $block->wait;

    check_error_log($block, $res, $dry_run, $repeated_idx, $need_array);
    check_access_log($block, $dry_run, $repeated_idx) if !defined $block->ignore_response;
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - local, compatible subset of the upstream Test::Nginx::Socket

=head1 SYNOPSIS

    PERL5LIB=t/lib prove -r t/

=head1 DESCRIPTION

Used only where the upstream Test::Nginx (openresty/test-nginx) is not
installed; a F<.t> file runs unchanged under either.  The generated
F<nginx.conf>, the default settings, the test names and the number of
assertions per section follow upstream.

Supported sections: C<main_config>, C<post_main_config>, C<http_config>,
C<config>, C<server_name>, C<log_level>, C<error_log_file>, C<user_files>,
C<init>, C<request> (string, array of requests, array of packets),
C<raw_request>, C<raw_request_middle_delay>, C<pipelined_requests>,
C<more_headers>, C<timeout>, C<abort>, C<wait>, C<shutdown>,
C<ignore_response>, C<http09>, C<error_code>, C<error_code_like>,
C<response_headers>, C<response_headers_like>,
C<raw_response_headers_like>, C<raw_response_headers_unlike>,
C<response_body>, C<response_body_like>, C<response_body_unlike>,
C<response_body_filters>, C<charset>, C<error_log>, C<no_error_log>,
C<grep_error_log>, C<grep_error_log_out>, C<access_log>, C<no_access_log>,
C<must_die>, C<tcp_listen>, C<tcp_reply>, C<tcp_reply_delay>, C<tcp_query>,
C<tcp_query_len>, C<tcp_shutdown>, C<tcp_no_close>, C<skip_nginx>,
C<skip_eval>, C<todo>, C<reload_fails>, plus the Test::Base C<ONLY>,
C<SKIP>, C<LAST> and filters such as C<eval> and C<chomp>.  Sections that
upstream has but this runner lacks (C<http2>, C<udp_*>, C<stap*>, C<curl*>,
C<shutdown_error_log>, ...) stop the run with an explanation.

Environment: C<TEST_NGINX_BINARY>, C<TEST_NGINX_SERVER_PORT>,
C<TEST_NGINX_PORT>, C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_SERVROOT>,
C<TEST_NGINX_LOG_LEVEL>, C<TEST_NGINX_MASTER_PROCESS>, C<TEST_NGINX_USE_HUP>,
C<TEST_NGINX_USE_VALGRIND>, C<TEST_NGINX_NO_CLEAN>, C<TEST_NGINX_SLEEP>,
C<TEST_NGINX_TIMEOUT>, C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_LOAD_MODULES>,
C<TEST_NGINX_FORCE_RESTART_ON_TEST>, C<TEST_NGINX_ERROR_LOG>,
C<TEST_NGINX_EVENT_TYPE>, C<TEST_NGINX_POSTPONE_OUTPUT>,
C<TEST_NGINX_WORKER_USER>, C<TEST_NGINX_NO_NGINX_MANAGER>.
C<$TEST_NGINX_*> variables are expanded in the configuration sections and
user files; C<TEST_NGINX_SERVER_ROOT> and C<TEST_NGINX_SERVER_PORT> are set
by the runner, C<TEST_NGINX_HTML_DIR> is not (as upstream: set it in the
F<.t> file with C<< $ENV{TEST_NGINX_HTML_DIR} ||= html_dir(); >>).

=head1 SERVER ROOT

As upstream, nginx is restarted for every block that has a C<config>
section, and the server root is prepared again before each start:
F<conf/>, F<html/>, F<logs/>, F<*_temp> and F<*_cache> are removed and the
server root must then be empty, otherwise the run is aborted.  Nothing
written by one block survives into the next one; files a test needs across
requests belong in F<logs/> or F<html/> (kept for the repeated requests of
one block) or outside the server root.  With C<TEST_NGINX_USE_HUP> the
master process is kept and reloaded, every regular file below the server
root is removed before the reload (directories stay) and error.log starts
afresh.  A block without a C<config> section reuses the running server as
it is.

=head1 DIFFERENCES

What nginx writes to stderr while starting (for example C<[emerg]> lines of
an nginx built with C<--error-log-path=stderr>, as Debian's is) is also
appended to F<logs/error.log>, so C<must_die> blocks can check it with
C<error_log>.  Under C<TEST_NGINX_USE_VALGRIND> valgrind's report is
printed on stderr as upstream does and, in addition, any C<==PID==> report
line fails the block it belongs to; F<valgrind.suppress> or
F<t/valgrind.suppress> is used when present.

=cut
