#!/usr/bin/perl
# Turns the raw outputs of bench/run.sh (wrk, writes.lua, lookups.lua,
# sqlite_commits) into the benchmark's one table:
#
#   perl bench/report.pl build/bench/raw
use strict;
use warnings;

my $raw = shift or die "usage: report.pl RAW_DIR\n";

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return undef;
    local $/;
    my $t = <$fh>;
    close $fh;
    return $t;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return $v[$#v / 2] if @v % 2;
    return ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub ms {
    my ($n, $u) = @_;
    return $n / 1000 if $u eq 'us';
    return $n if $u eq 'ms';
    return $n * 1000 if $u eq 's';
    return $n * 60000 if $u eq 'm';
    die "unknown unit $u\n";
}

# one wrk --latency output
sub wrk {
    my ($f) = @_;
    my $t = slurp($f) // return undef;
    my %r = (non2xx => 0, errors => 0);
    $r{rps} = $1 if $t =~ /^Requests\/sec:\s+([\d.]+)/m;
    $r{p50} = ms($1, $2) if $t =~ /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m;
    $r{p99} = ms($1, $2) if $t =~ /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m;
    $r{non2xx} = $1 if $t =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    if ($t =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        $r{errors} = $1 + $2 + $3 + $4;
    }
    $r{requests} = $1 if $t =~ /^\s+(\d+) requests in ([\d.]+)(\w+)/m;
    if ($t =~ /^worker cpu_ns (\d+) wait_ns (\d+)/m && $r{requests}) {
        $r{cpu} = $1 / 1000 / $r{requests};          # us per request
        $r{wait} = $2 / 1e9;                          # s waiting for a CPU
    }
    $r{steal} = $1 / 1e9 if $t =~ / steal_ns (\d+)/m;  # s of its CPU stolen
    return defined $r{rps} ? \%r : undef;
}

my %meta;
for (split /\n/, slurp("$raw/meta.txt") // '') {
    my ($k, $v) = split / /, $_, 2;
    $meta{$k} = $v;
}

my $rounds = $meta{rounds};

my (@order, %label);
for (split /\n/, slurp("$raw/scenarios.txt")) {
    my ($name, $label) = split /\|/;
    push @order, $name;
    $label{$name} = $label;
}

my (%run, @problems);
for my $s (@order) {
    for my $r (1 .. $rounds) {
        my $w = wrk("$raw/scenario.$s.$r.txt");
        if (!$w) {
            push @problems, "scenario $s round $r: no wrk result";
            next;
        }
        push @problems, "scenario $s round $r: $w->{non2xx} answers not 2xx"
            if $w->{non2xx};
        push @problems, "scenario $s round $r: $w->{errors} socket errors"
            if $w->{errors};
        $run{$s}[$r] = $w;
    }
}

# median over the rounds of a per-round figure
sub per_round {
    my ($code) = @_;
    my @v;
    for my $r (1 .. $rounds) {
        my $x = $code->($r);
        push @v, $x if defined $x;
    }
    return median(@v);
}

sub fig {
    my ($s, $k) = @_;
    return per_round(sub { my $w = $run{$s}[$_[0]]; $w ? $w->{$k} : undef });
}

# the ratio of the medians: the noise on a shared machine changes within
# seconds, so pairing the runs of one round does not cancel it, and a
# per-round ratio carries the noise of both runs
sub ratio {
    my ($s, $base, $k) = @_;
    my ($v, $b) = (fig($s, $k), fig($base, $k));
    return defined $v && $b ? $v / $b : undef;
}

# an instance's byok_cache_* counters
sub metrics {
    my ($name) = @_;
    my %m;
    for (split /\n/, slurp("$raw/metrics.$name.txt") // '') {
        $m{$1} = $2 if /^(\S+) (\d+)/;
    }
    return %m;
}

sub f {
    my ($fmt, $v) = @_;
    return defined $v ? sprintf($fmt, $v) : '-';
}

my @out;
sub line { push @out, join('', @_) }

line "ngx_http_byok_module benchmark: nginx $meta{nginx}, $meta{cpu}";
line "one nginx worker on CPU $meta{nginx_cpu}, wrk -t1 -c$meta{connections}"
    . " on CPU $meta{load_cpu}, loopback; $rounds interleaved rounds of"
    . " $meta{seconds} s (after $meta{warmup} s warm-up)";
line "figures: medians over the rounds; x(a) and x(b0): ratios of those medians"
    . " to the medians of (a) and of (b0) in the same run";
line "";

my $w = 52;
line sprintf("%-${w}s %8s %5s %7s %5s %7s %5s %7s %5s %6s",
            'scenario', 'req/s', 'x(a)', 'p50 ms', 'x(a)', 'p99 ms', 'x(a)',
            'CPU us', 'x(a)', 'x(b0)');
line '-' x ($w + 69);

for my $s (@order) {
    my $vs_b0 = ($s =~ /^(b|b1|c|c0|e2|f|f0|f1)$/)
                ? f('%6.2f', ratio($s, 'b0', 'rps')) : '';
    line sprintf("%-${w}s %8s %5s %7s %5s %7s %5s %7s %5s %6s",
                $label{$s},
                f('%.0f', fig($s, 'rps')), f('%.2f', ratio($s, 'a', 'rps')),
                f('%.3f', fig($s, 'p50')), f('%.2f', ratio($s, 'a', 'p50')),
                f('%.3f', fig($s, 'p99')), f('%.2f', ratio($s, 'a', 'p99')),
                f('%.1f', fig($s, 'cpu')), f('%.2f', ratio($s, 'a', 'cpu')),
                $vs_b0);
}

my (@waits, @steals);
for my $s (@order) {
    for my $r (1 .. $rounds) {
        my $x = $run{$s}[$r];
        push @waits, 100 * $x->{wait} / $meta{seconds} if $x && defined $x->{wait};
        push @steals, 100 * $x->{steal} / $meta{seconds}
            if $x && defined $x->{steal};
    }
}
line "";
line "CPU us: the worker's CPU time per request (/proc/PID/schedstat; includes the"
    . " loopback TCP work the kernel charges to it, and for the proxied lines the"
    . " upstream and key service, which run in the same worker)";
line sprintf("the worker waited for its CPU (other load on the machine) %s%% of the"
             . " measured time (median; max %s%%)",
             f('%.0f', median(@waits)),
             f('%.0f', (sort { $b <=> $a } @waits)[0]))
    if @waits;
line sprintf("the hypervisor gave the worker's CPU to others (steal) %s%% of the"
             . " measured time (median; max %s%%)",
             f('%.0f', median(@steals)),
             f('%.0f', (sort { $b <=> $a } @steals)[0]))
    if @steals;

my %mm = metrics('main');
my %ms = metrics('miss');
if (%mm && %ms) {
    line sprintf("zone counters (/admin/metrics): main instance %s hits / %s misses;"
                 . " (d)'s instance %s hits / %s misses",
                 map { $_ // '-' } $mm{byok_cache_hits_total}, $mm{byok_cache_misses_total},
                 $ms{byok_cache_hits_total}, $ms{byok_cache_misses_total});
    push @problems, "(d) was served from the zone: $ms{byok_cache_hits_total} hits"
        if ($ms{byok_cache_hits_total} // 0) > ($ms{byok_cache_misses_total} // 0) / 100;
}

line "";


# --- writes

sub lines_of {
    my ($glob, $re) = @_;
    my @v;
    for my $f (sort glob("$raw/$glob")) {
        my $t = slurp($f) // next;
        push @v, [$t =~ $re] if $t =~ $re;
    }
    return @v;
}

my $wre = qr/^writes \S+ ok (\d+) failed (\d+) seconds ([\d.]+) rate ([\d.]+)/m;
my @creates = lines_of('writes.create.*.txt', $wre);
my @revokes = lines_of('writes.revoke.*.txt', $wre);
my @commits = lines_of('writes.sqlite.*.txt',
                       qr/^commits (\d+) seconds ([\d.]+) rate ([\d.]+)/m);

my $creates = median(map { $_->[3] } @creates);
my $revokes = median(map { $_->[3] } @revokes);
my $commits = median(map { $_->[2] } @commits);

for (@creates, @revokes) {
    push @problems, "writes: $_->[1] failed" if $_->[1];
}

line "writes through the user API (wrk -t1 -c8 + bench/wrk/writes.lua, "
    . scalar(@creates) . " rounds, medians):";
line sprintf("  %-50s %9s /s", 'POST /me/provider-keys (create)', f('%.0f', $creates));
line sprintf("  %-50s %9s /s", 'DELETE /me/provider-keys/{id} (revoke)', f('%.0f', $revokes));
line sprintf("  %-50s %9s /s", 'raw SQLite commits (WAL, synchronous=FULL, disk '
                                . ($meta{disk} // '?') . ')', f('%.0f', $commits));
line sprintf("  creates / raw commits %s, revokes / raw commits %s",
            f('%.2f', $creates && $commits ? $creates / $commits : undef),
            f('%.2f', $revokes && $commits ? $revokes / $commits : undef));
line "";


# --- storm

my (@q, @st, @sw);
for my $r (1 .. 100) {
    my $qq = wrk("$raw/storm.quiet.$r.txt") or last;
    my $ss = wrk("$raw/storm.lookup.$r.txt");
    push @q, $qq;
    push @st, $ss if $ss;
    my $t = slurp("$raw/storm.writes.$r.txt") // '';
    push @sw, $1 if $t =~ /rate ([\d.]+)/;
    push @problems, "storm round $r: $qq->{non2xx} lookups not 2xx" if $qq->{non2xx};
    push @problems, "storm round $r: $ss->{non2xx} lookups not 2xx" if $ss && $ss->{non2xx};
}

if (@q && @st) {
    my %m;
    for my $k (qw(rps p50 p99)) {
        $m{quiet}{$k} = median(map { $_->{$k} } @q);
        $m{storm}{$k} = median(map { $_->{$k} } @st);
    }
    line "byok_lookup (cached) while a write storm runs (" . scalar(@st)
        . " rounds; storm: wrk -c8 creating and revoking through the API):";
    line sprintf("  %-24s %9s %8s %8s", '', 'req/s', 'p50 ms', 'p99 ms');
    for my $k (qw(quiet storm)) {
        line sprintf("  %-24s %9.0f %8.3f %8.3f", $k eq 'quiet' ? 'quiet' : 'during the storm',
                    @{$m{$k}}{qw(rps p50 p99)});
    }
    line sprintf("  %-24s %9.2f %8.2f %8.2f", 'storm / quiet',
                map { $m{quiet}{$_} ? $m{storm}{$_} / $m{quiet}{$_} : 0 } qw(rps p50 p99));
    line sprintf("  writes/s during the storm: %s", f('%.0f', median(@sw)));
    line "";
}


# --- zone

my $create = slurp("$raw/zone.create.txt") // '';
my $fill = slurp("$raw/zone.fill.txt") // '';
my $count = slurp("$raw/zone.count.txt") // '';

if ($count =~ /^lookups ok (\d+) other (\d+) late (\d+)/m) {
    my ($kept, $gone, $late) = ($1, $2, $3);
    my $size = $meta{zone_size};
    my $mib = $size =~ /^(\d+)[mM]$/ ? $1 : $size =~ /^(\d+)[kK]$/ ? $1 / 1024 : undef;
    my $users = $meta{zone_users};
    line "shared zone capacity (byok_zone bench:$size; $users users, one 108-character"
        . " key each, looked up oldest first):";
    if ($gone == 0) {
        line "  all $users entries still cached: the zone holds at least $users keys"
            . " (raise BENCH_ZONE_USERS)";
    }
    line sprintf("  cached keys kept: %d of %d  =  %s keys per MiB, %s bytes of zone per key",
                $kept, $users, f('%.0f', $mib ? $kept / $mib : undef),
                f('%.0f', $kept && $mib ? $mib * 1048576 / $kept : undef));
    line sprintf("  per 16 MiB: %s keys", f('%.0f', $mib ? $kept * 16 / $mib : undef));
    if ($kept && $mib) {
        my $chunk = 2 ** int(log($mib * 1048576 / $kept) / log(2) + 0.5);
        line "  (nginx's slab allocator rounds each entry up to a power of two:"
            . " about one $chunk-byte chunk per entry)";
    }
    my $inflight = $meta{zone_connections} // 1;
    line "  eviction order: "
        . ($late > 2 * $inflight
           ? "NOT least recently used ($late entries older than an evicted one survived)"
           : "least recently used first (every survivor is newer than every evicted"
             . " entry" . ($inflight > 1 ? ", give or take the $inflight lookups in flight: $late" : '')
             . ")");
    my %fm = metrics('zone.fill');
    if (%fm) {
        line sprintf("  the zone's own counters after the fill: %s entries, %s evictions"
                     . " (/admin/metrics)",
                     $fm{byok_cache_entries} // '-', $fm{byok_cache_evictions_total} // '-');
    }
    line sprintf("  fill: %s creates/s (store on tmpfs, bench/zonefill.c), lookups %s/s (%s in flight)",
                $create =~ /^zonefill create (\d+) seconds ([\d.]+)/m && $2 > 0
                    ? sprintf('%.0f', $1 / $2) : '-',
                $fill =~ /^lookups ok (\d+) other \d+ late \d+ seconds ([\d.]+)/m && $2 > 0
                    ? sprintf('%.0f', $meta{zone_users} / $2) : '-',
                $meta{zone_connections} // 1);
    line "";
}


# --- targets

my $kept = $count =~ /^lookups ok (\d+)/m ? $1 : undef;
my $per16 = defined $kept && $meta{zone_size} =~ /^(\d+)[mM]$/ ? $kept * 16 / $1 : undef;

# the per-round spread of a ratio, "min-max"
sub spread {
    my ($s, $base, $k, $inverse) = @_;
    my @v;
    for my $r (1 .. $rounds) {
        my ($w, $b) = ($run{$s}[$r], $run{$base}[$r]);
        next unless $w && $b && $w->{$k} && $b->{$k};
        push @v, $inverse ? $b->{$k} / $w->{$k} : $w->{$k} / $b->{$k};
    }
    @v = sort { $a <=> $b } @v;
    return @v ? sprintf('per-round ratios %.2f-%.2f', $v[0], $v[-1]) : '';
}

sub inverse_ratio {
    my ($s, $base, $k) = @_;
    my $v = ratio($s, $base, $k);
    return $v ? 1 / $v : undef;
}

my @targets = (
    ['byok_lookup (cached) req/s >= 0.95 x empty_gif',
     ratio('lk', 'a', 'rps'), 0.95, spread('lk', 'a', 'rps')],
    ['  the same from CPU per request (a / byok_lookup)',
     inverse_ratio('lk', 'a', 'cpu'), 0.95, spread('lk', 'a', 'cpu', 1)],
    ['byok_lookup (cached) req/s >= 1.05 x Lua peer lookup',
     ratio('lk', 'e1', 'rps'), 1.05, spread('lk', 'e1', 'rps')],
    ['  the same from CPU per request (Lua / byok_lookup)',
     inverse_ratio('lk', 'e1', 'cpu'), 1.05, spread('lk', 'e1', 'cpu', 1)],
    ['byok_inject (trusted header) req/s >= 0.95 x plain proxy (b1)',
     ratio('b', 'b1', 'rps'), 0.95, spread('b', 'b1', 'rps')],
    ['  the same from CPU per request (b1 / b)',
     inverse_ratio('b', 'b1', 'cpu'), 0.95, spread('b', 'b1', 'cpu', 1)],
    ['byok_inject (JWT HS256) req/s >= 0.90 x plain proxy (c0)',
     ratio('c', 'c0', 'rps'), 0.90, spread('c', 'c0', 'rps')],
    ['  the same from CPU per request (c0 / c)',
     inverse_ratio('c', 'c0', 'cpu'), 0.90, spread('c', 'c0', 'cpu', 1)],
    ['byok_inject req/s >= 4 x auth_request as usually written (f1)',
     ratio('b', 'f1', 'rps'), 4, spread('b', 'f1', 'rps')],
    ['byok_lookup cache miss req/s >= 0.5 x empty_gif',
     ratio('d', 'a', 'rps'), 0.5, spread('d', 'a', 'rps')],
    ['  the same from CPU per request (a / miss)',
     inverse_ratio('d', 'a', 'cpu'), 0.5, spread('d', 'a', 'cpu', 1)],
    ['cached keys per 16 MiB of zone >= 40000', $per16, 40000, ''],
);

line "targets:";
for my $t (@targets) {
    my ($what, $v, $min, $range) = @$t;
    line sprintf("  %-62s %8s  %-6s  %s", $what,
                f($min >= 100 ? '%.0f' : '%.3f', $v),
                !defined $v ? 'not measured' : $v >= $min ? 'met' : 'MISSED',
                $range);
}
line "  against (b0), the plain proxy whose requests carry no credential, req/s:"
    . " (b) " . f('%.3f', ratio('b', 'b0', 'rps'))
    . ", from CPU per request " . f('%.3f', inverse_ratio('b', 'b0', 'cpu'))
    . "; (c) " . f('%.3f', ratio('c', 'b0', 'rps'));
line "  the plain proxy itself against (f1), req/s: (b1) "
    . f('%.3f', ratio('b1', 'f1', 'rps')) . ", (b0) "
    . f('%.3f', ratio('b0', 'f1', 'rps'));
line "  (b) vs (e) Lua inject peer, req/s: "
    . f('%.3f', ratio('b', 'e2', 'rps')) . "; (b) vs (f) auth_request to a"
    . " keepalive key service in the same worker: "
    . f('%.3f', ratio('b', 'f', 'rps'));
line "";

my $errors = slurp("$raw/errors.txt") // '';
push @problems, map { "error log: $_" } split /\n/, $errors;

if (@problems) {
    line "problems seen during the run:";
    line "  $_" for @problems;
} else {
    line "no errors: every answer was 2xx, no socket errors, no worker crashes";
}

print "$_\n" for @out;
