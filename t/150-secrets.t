# Secret hygiene (hardening): a canary key is created, used, tested and
# revoked through every path — the user API, byok_lookup called directly and
# as an auth_request target, injection into a proxied call (and its retry
# after the provider refused the key), the key test — and then neither the
# canary nor the master key may be found
#   - in any file under the server root (error log at debug level, access
#     log, ...) or in the store, its WAL and its shared-memory file;
#   - in a core dump of a worker (gcore, and the kernel's own core of a
#     worker killed with SIGSEGV): the shared zone, where decrypted keys
#     are cached, is marked MADV_DONTDUMP ("dd" in /proc/PID/smaps) and the
#     plaintext copies a request made must be wiped when it ends.
#
# The canary's first 8 characters are its masked form ("sk-ant-a***"), shown
# by design; every search looks for the full canary and for the rest of it.
# The master key is searched as lowercase and uppercase hex, raw bytes and
# base64.  byok_lookup hands the key to its caller by design (X-BYOK-Key):
# that response reaches the client, but it must not reach a log, and the
# worker must not keep a copy after the request.
#
# Layout:
#   - the store lives in $TEST_NGINX_BYOK_STATE, outside the server root
#     (which the runner wipes before every block), so the key added in one
#     block is there for the next worker;
#   - the fake provider / agent runtime is a Perl process of this file on
#     127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT: it answers 200 "credential:
#     canary" when the request carries the canary, else 401 "credential:
#     none" (a path under /rate-limited/: 429, whatever the key), and
#     writes nothing anywhere;
#   - a request to /check is answered by nginx with 204 and its body is
#     replaced (--- response_body_filters) by a report of what the check
#     found, compared with --- response_body: "zone" reads the zone of the
#     worker through /proc/PID/mem, "files" searches the files, "gcore" and
#     "segv" make a core dump of the worker and search it.  A report line
#     that finds a secret says where: the file and offset, or the address and
#     mapping of the core, with the bytes around it.
#   - gcore comes with gdb (Debian package "gdb"); the kernel's core needs a
#     core_pattern that writes a file into the process's working directory
#     (the block is skipped otherwise).  Cores are deleted once searched
#     (TEST_NGINX_KEEP_CORES=1 keeps them in $TEST_NGINX_BYOK_CORES).

use Test::Nginx::Socket;

use Digest::SHA qw(hmac_sha256);
use File::Find ();
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use MIME::Base64 qw(encode_base64 encode_base64url);
use POSIX ();
use Time::HiRes ();

no warnings 'portable';    # 64-bit addresses in /proc/PID/maps

# the checks read a worker's memory (/proc/PID/mem, its core): under
# valgrind that is valgrind's own process, with its own copies and layout;
# under ASan (make test-asan, t/sanitize.pl) the runtime reserves terabytes
# of address space for its allocator, and gdb's gcore writes those regions
# out: a core of 2 TB (about 80 GB of it on disk) per check, which no search
# can read.  Both runs leave these checks to make test.
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'worker memory and core dumps are not nginx\'s own '
                     . 'under valgrind');
} elsif ($ENV{TEST_NGINX_BYOK_SANITIZED}) {
    plan(skip_all => 'a core of an ASan worker holds the runtime\'s '
                     . 'reserved address space (2 TB)');
} else {
    plan('no_plan');
}

sub random_hex {
    my ($n) = @_;
    open my $in, '<:raw', '/dev/urandom' or die "/dev/urandom: $!\n";
    my $bytes;
    read $in, $bytes, $n;
    close $in;
    return unpack 'H*', $bytes;
}

# a fresh master key and canary for every run: a match is never a leftover
our $MASTER = random_hex(32);
our $CANARY = 'sk-ant-api03-CANARY-' . random_hex(20) . '-end';
our $TAIL = substr $CANARY, 8;

$ENV{AGENTS_MASTER_KEY} = $MASTER;
$ENV{AGENTS_JWT_SECRET} = 'secrets-suite-jwt-secret-0123456789abcdef';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
# next to the server port, so parallel runs on other ports do not collide
$ENV{TEST_NGINX_FAKE_PROVIDER_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 8;
$ENV{TEST_NGINX_BYOK_STATE} = tempdir('byok-secrets-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
$ENV{TEST_NGINX_BYOK_CORES} = tempdir('byok-cores-XXXXXX', TMPDIR => 1,
                                      CLEANUP => !$ENV{TEST_NGINX_KEEP_CORES});
chmod 0700, $ENV{TEST_NGINX_BYOK_STATE};

# the master key as a file, for the block that reads it with "file:"
{
    my $f = "$ENV{TEST_NGINX_BYOK_STATE}/master.key";
    open my $out, '>', $f or die "$f: $!\n";
    print $out "$MASTER\n";
    close $out;
    chmod 0600, $f;
}

# every secret a search looks for: [name, bytes]
our @MASTER_FORMS = (
    ['the master key (hex)', $MASTER],
    ['the master key (HEX)', uc $MASTER],
    ['the master key (raw bytes)', pack('H*', $MASTER)],
    ['the master key (base64)', encode_base64(pack('H*', $MASTER), '')],
);
# a freed copy loses its first 16 bytes to the allocator's list pointers
# and the rest may be cut where a larger buffer was reused: any 16
# characters of the canary past its masked prefix are a copy
our @CANARY_FORMS = (
    ['the canary', $CANARY],
    ['the canary without its masked prefix', $TAIL],
    ['any 16 characters of the canary past its masked prefix',
     [map { substr $TAIL, $_, 16 } 0 .. length($TAIL) - 16]],
);

master_on();
workers(1);
log_level('debug');
no_shuffle();
no_long_string();

# ---------------------------------------------------------------------------
# The fake provider and agent runtime

our $FakePid;

sub start_fake_provider {
    my $listener = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $ENV{TEST_NGINX_FAKE_PROVIDER_PORT},
        Listen    => 16,
        ReuseAddr => 1,
    ) or die "cannot listen on the fake provider port: $!\n";

    my $parent = $$;
    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $listener->timeout(1);

        while (1) {
            # never outlive the test
            POSIX::_exit(0) if getppid() != $parent;

            my $c = $listener->accept or next;
            my $req = '';

            while ($req !~ /\r\n\r\n/) {
                my $n = sysread $c, $req, 8192, length $req;
                last if !$n;
            }

            my $body = index($req, $CANARY) >= 0 ? "credential: canary\n"
                                                  : "credential: none\n";
            my $status = $body =~ /canary/ ? '200 OK' : '401 Unauthorized';
            my $more = '';

            if ($req =~ m{^\S+ /rate-limited/}) {
                $status = '429 Too Many Requests';
                $more = "Retry-After: 1\r\n";
            }

            print $c "HTTP/1.1 $status\r\nContent-Type: text/plain\r\n"
                     . "Content-Length: " . length($body) . "\r\n$more"
                     . "Connection: close\r\n\r\n$body";
            close $c;
        }
    }

    close $listener;
    $FakePid = $pid;
}

start_fake_provider();
add_cleanup_handler(sub {
    if ($FakePid) {
        kill 'TERM', $FakePid;
        waitpid $FakePid, 0;
        undef $FakePid;
    }
});

# ---------------------------------------------------------------------------
# Searching

sub printable {
    my ($s) = @_;
    $s =~ s/[^\x20-\x7e]/./g;
    return $s;
}

# offsets of NEEDLE in DATA
sub offsets {
    my ($data, $needle) = @_;
    my @at;
    my $p = 0;
    while (($p = index($data, $needle, $p)) >= 0) {
        push @at, $p;
        $p += length $needle;
    }
    return @at;
}

# [offset, length] of every copy in DATA of the secret FORM, whose bytes
# are one string or a list of pieces, in the order they lie in DATA
sub copies {
    my ($data, $form) = @_;
    my @at;
    for my $needle (ref $form->[1] ? @{ $form->[1] } : $form->[1]) {
        push @at, map { [$_, length $needle] } offsets($data, $needle);
    }
    return sort { $a->[0] <=> $b->[0] } @at;
}

sub context {
    my ($data, $at, $len) = @_;
    my $from = $at < 40 ? 0 : $at - 40;
    return printable(substr($data, $from, $at - $from + $len + 40));
}

# a file's bytes, or undef when it cannot be opened or read whole (an
# empty file is ""): a search never passes on what it did not read
sub slurp {
    my ($path) = @_;
    open my $in, '<:raw', $path or return undef;
    local $/;
    my $data = <$in>;
    close $in or return undef;
    return $data;
}

# "FILE: clean" for every file under the server root and the state
# directory, or what was found where
sub scan_files {
    my @files;
    for my $dir (server_root(), $ENV{TEST_NGINX_BYOK_STATE}) {
        File::Find::find({ no_chdir => 1, wanted => sub {
            push @files, $_ if -f $_ && !/\.key$/;
        } }, $dir);
    }

    # by the name reported, not the path: where the checkout and the
    # temporary directory lie must not change the order of the lines
    my %name;
    for my $path (@files) {
        (my $name = $path) =~ s{^\Q$ENV{TEST_NGINX_BYOK_STATE}\E}{STATE};
        $name =~ s{^\Q${\ server_root()}\E/}{};
        $name{$path} = $name;
    }

    my $report = '';

    for my $path (sort { $name{$a} cmp $name{$b} } @files) {
        my $data = slurp($path) // next;
        my $name = $name{$path};

        my @found;
        for my $s (@CANARY_FORMS, @MASTER_FORMS) {
            for (copies($data, $s)) {
                my ($at, $len) = @$_;
                push @found, "$s->[0] at offset $at: \""
                             . context($data, $at, $len) . '"';
            }
        }

        # the files the checks expect, whatever else the server root holds
        next if !@found && $name !~ m{^(?:logs/(?:error|access)\.log
                                          |STATE/byok\.db(?:-wal|-shm)?)$}x;

        $report .= @found ? "$name: " . join('; ', @found) . "\n"
                          : "$name: clean\n";
    }

    return $report;
}

# the master's child whose title is "nginx: TITLE"
sub child_pid {
    my ($title) = @_;
    my $master = slurp(server_root() . '/logs/nginx.pid') // '';
    chomp $master;

    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat) // next;
        my ($pid, $comm, $ppid) = $s =~ /^(\d+) \((.*)\) \S+ (\d+)/s or next;
        next if $ppid != $master || $comm !~ /nginx/;
        my $cmdline = slurp("/proc/$pid/cmdline") // next;
        return $pid if $cmdline =~ /^nginx: \Q$title\E/;
    }

    return undef;
}

sub worker_pid { child_pid('worker process') }

# the zone: the largest shared /dev/zero mapping of the worker
sub zone_mapping {
    my ($pid) = @_;
    my ($best, $flags);
    my $cur;

    for my $line (split /\n/, slurp("/proc/$pid/smaps") // '') {
        if ($line =~ /^([0-9a-f]+)-([0-9a-f]+) (\S+) .*\/dev\/zero/) {
            $cur = [hex $1, hex $2, $3];
            next;
        }
        if ($line =~ /^[0-9a-f]+-[0-9a-f]+ /) {
            undef $cur;
            next;
        }
        if ($cur && $line =~ /^VmFlags:\s*(.*)$/) {
            my $vmflags = $1;
            if ($cur->[2] =~ /s/
                && (!$best || $cur->[1] - $cur->[0] > $best->[1] - $best->[0]))
            {
                ($best, $flags) = ($cur, $vmflags);
            }
        }
    }

    return ($best, $flags);
}

# "zone": is the canary in the worker's zone right now (read through
# /proc/PID/mem), and is the zone marked not to be dumped?
sub check_zone {
    my $pid = worker_pid() // return "no worker process\n";
    my ($zone, $flags) = zone_mapping($pid);
    return "no zone mapping in /proc/$pid/smaps\n" if !$zone;

    my $report = 'zone mapping: '
                 . ($flags =~ /\bdd\b/ ? 'MADV_DONTDUMP' : "dumped ($flags)")
                 . "\n";

    open my $mem, '<:raw', "/proc/$pid/mem"
        or return $report . "cannot read /proc/$pid/mem: $!\n";
    sysseek $mem, $zone->[0], 0;
    my $data = '';
    my $left = $zone->[1] - $zone->[0];
    while ($left > 0) {
        my $n = sysread $mem, $data, $left, length $data;
        last if !$n;
        $left -= $n;
    }
    close $mem;

    my $n = () = offsets($data, $TAIL);
    return $report . ($n ? "zone: holds the canary\n"
                         : "zone: no copy of the canary\n");
}

# the PT_LOAD segments of an ELF64 core: [file offset, vaddr, size]
sub core_segments {
    my ($core) = @_;
    my ($phoff) = unpack 'Q', substr($core, 32, 8);
    my ($phentsize, $phnum) = unpack 'S S', substr($core, 54, 4);
    my @seg;

    for my $i (0 .. $phnum - 1) {
        my ($type, undef, $off, $vaddr, undef, $filesz) =
            unpack 'L L Q Q Q Q', substr($core, $phoff + $i * $phentsize, 48);
        push @seg, [$off, $vaddr, $filesz] if $type == 1;
    }

    return @seg;
}

# what of SECRETS the core file holds, and where
sub scan_core {
    my ($file, $maps, @secrets) = @_;

    # searched in memory: a core larger than this fails the check instead
    my $size = -s $file // 0;
    if ($size > 4 * 1024 * 1024 * 1024) {
        unlink $file if !$ENV{TEST_NGINX_KEEP_CORES};
        return "the core $file is $size bytes: too large to search\n";
    }

    my $core = slurp($file);
    return "the core $file cannot be read\n" if !defined $core;

    my @seg = core_segments($core);
    my @map = map { /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/
                    ? [hex $1, hex $2, $3 eq '' ? '(anonymous)' : $3] : () }
              split /\n/, $maps;

    my $report = '';

    for my $s (@secrets) {
        my @where;
        for (copies($core, $s)) {
            my ($at, $len) = @$_;
            my $where = 'outside the memory segments (notes)';
            for my $g (@seg) {
                next if $at < $g->[0] || $at >= $g->[0] + $g->[2];
                my $va = $g->[1] + $at - $g->[0];
                my ($m) = grep { $va >= $_->[0] && $va < $_->[1] } @map;
                $where = sprintf '0x%x in %s', $va,
                                 $m ? $m->[2] : 'an unknown mapping';
                last;
            }
            push @where, "$where: \"" . context($core, $at, $len) . '"';
        }
        $report .= @where ? "in the core: $s->[0] at " . join('; ', @where) . "\n"
                          : "in the core: no copy of $s->[0]\n";
    }

    unlink $file if !$ENV{TEST_NGINX_KEEP_CORES};

    return $report;
}

# "gcore": the worker's core made by gdb's gcore (the worker goes on)
sub check_gcore {
    my (@secrets) = @_;
    return gcore_of('worker process', @secrets);
}

# the same for the master's child titled "nginx: TITLE"
sub gcore_of {
    my ($title, @secrets) = @_;
    my $pid = child_pid($title) // return "no $title\n";
    my $maps = slurp("/proc/$pid/maps");
    my $prefix = "$ENV{TEST_NGINX_BYOK_CORES}/gcore";

    system("gcore -o $prefix $pid >/dev/null 2>&1");
    return "gcore could not dump the $title $pid (status $?; is gdb installed?)\n"
        if !-s "$prefix.$pid";

    return "core: made by gcore\n" . scan_core("$prefix.$pid", $maps, @secrets);
}

# "segv": the kernel's core of the worker, killed with SIGSEGV
sub check_segv {
    my (@secrets) = @_;
    my $pid = worker_pid() // return "no worker process\n";
    my $maps = slurp("/proc/$pid/maps");
    my $dir = $ENV{TEST_NGINX_BYOK_CORES};
    my %before = map { $_ => 1 } glob "$dir/*";

    kill 'SEGV', $pid;

    my ($core, $size);
    for (1 .. 300) {
        Time::HiRes::sleep(0.05);
        ($core) = grep { !$before{$_} && !/gcore/ } glob "$dir/*";
        next if !$core;
        my $s = -s $core;
        last if defined $size && $s == $size && !-e "/proc/$pid";
        $size = $s;
    }

    return "the kernel wrote no core into $dir\n" if !$core;

    return "core: written by the kernel\n" . scan_core($core, $maps, @secrets);
}

sub kernel_cores_here {
    my $pattern = slurp('/proc/sys/kernel/core_pattern') // '';
    return $pattern !~ m{^\s*[|/]};
}

# ---------------------------------------------------------------------------
# Requests

sub jwt {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}', $sub,
                             time + 3600);
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p",
                                                   $ENV{AGENTS_JWT_SECRET}));
}

sub api { "Authorization: Bearer " . jwt('alice') . "\nContent-Type: application/json" }

sub create_body {
    return qq{{"category":"llm","provider":"anthropic","label":"canary","value":"$CANARY"}};
}

# a key object, never holding the canary, that matches WITH (a pattern)
sub key_object {
    my ($id, $with) = @_;
    return '^(?!.*' . quotemeta($TAIL) . ')'
           . (defined $with ? "(?=.*$with)" : '')
           . '\{"id":' . $id
           . ',"category":"llm","provider":"anthropic",.*"masked":"sk-ant-a\*\*\*"';
}

our $Catalog = <<'_EOC_';
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
     "auth": {"header": "x-api-key", "prefix": ""},
     "headers": {"anthropic-version": "2023-06-01"},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models"}}
  ]}
]}
_EOC_

our $Config = <<'_EOC_';
    location /me/provider-keys {
        byok_api;
    }

    # byok_lookup called directly: the key is in the response, by design
    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }

    # byok_lookup as an auth_request target: the runtime gets the key
    location = /_byok {
        internal;
        byok_user $http_x_user;
        byok_provider $byok_want;
        byok_lookup;
    }

    location /runtime/ {
        set $byok_want anthropic;
        auth_request /_byok;
        auth_request_set $byok_k $sent_http_x_byok_key;
        proxy_set_header X-Provider-Key $byok_k;
        proxy_set_header X-User "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/;
    }

    # injection: nobody but the provider sees the key
    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/;
    }

    # the provider refuses the key with 429: the same request is sent
    # again with the next key, here the platform key (README: "Key health
    # and same-request fallback")
    location /rate-limited/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_inject on;
        proxy_intercept_errors on;
        error_page 429 = @retry;
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;
    }

    location @retry {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-0000000000000001;
        byok_inject on;
        rewrite ^/rate-limited(/.*)$ $1 break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;
    }

    location = /check {
        return 204;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    # --- same_server: the previous block's nginx and worker go on
    return if defined $block->same_server;

    $block->set_value('main_config', <<'_EOC_' . ($block->main_config // ''));
load_module $TEST_NGINX_BYOK_MODULE;
worker_rlimit_core 500m;
working_directory $TEST_NGINX_BYOK_CORES;
_EOC_

    my $master = defined $block->master_key_file
                 ? "    byok_master_key file:$ENV{TEST_NGINX_BYOK_STATE}/master.key;\n"
                 : '';

    # a master key read from a file must not be in nginx's environment
    if (defined $block->master_key_file) {
        delete $ENV{AGENTS_MASTER_KEY};
    } else {
        $ENV{AGENTS_MASTER_KEY} = $MASTER;
    }

    # --- cache_manager: a proxy cache, so nginx starts a cache manager
    my $cache = defined $block->cache_manager
                ? "    proxy_cache_path $ENV{TEST_NGINX_BYOK_STATE}/cache"
                  . " keys_zone=byok_test_cache:1m;\n"
                : '';

    $block->set_value('http_config', <<'_EOC_' . $master . $cache);
    byok_store $TEST_NGINX_BYOK_STATE/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;
_EOC_

    $block->set_value('config', $main::Config) if !defined $block->config;
    $block->set_value('user_files', ">>> catalog.json\n$main::Catalog");

    if (!defined $block->no_error_log && !defined $block->error_log) {
        $block->set_value('no_error_log',
                          "[alert]\n[crit]\n[emerg]\nexited on signal\n");
    }
});

run_tests();

__DATA__

=== TEST 1: the canary through every path — create, list, read, rename, lookup (direct and auth_request), injection, key test, revoke — and then no log, store, WAL or shm file holds it or the master key
--- more_headers eval
my $api = ::api();
[
$api, $api, $api, $api,
"X-User: alice",
"X-User: alice",
"X-User: alice",
"",
$api,
$api,
"X-User: alice",
"X-User: alice",
"",
"",
]
--- request eval
[
"POST /me/provider-keys\n" . ::create_body(),
"GET /me/provider-keys",
"GET /me/provider-keys/1",
qq{PATCH /me/provider-keys/1\n{"label":"renamed"}},
"GET /lookup?provider=anthropic",
"GET /runtime/v1/messages",
"GET /anthropic/v1/messages",
"GET /check?zone",
"POST /me/provider-keys/1/test",
"DELETE /me/provider-keys/1",
"GET /lookup?provider=anthropic",
"GET /anthropic/v1/messages",
"GET /check?zone",
"GET /check?files",
]
--- error_code eval
[201, 200, 200, 200, 200, 200, 200, 204, 200, 200, 403, 403, 204, 204]
--- response_headers eval
[
"", "", "", "",
"X-BYOK-Key: $::CANARY\nX-BYOK-Key-Id: 1\nX-BYOK-Source: user",
"!X-BYOK-Key",
"!X-BYOK-Key",
"", "", "",
"!X-BYOK-Key",
"!X-BYOK-Key",
"", "",
]
--- response_body_filters eval
[[], [], [], [], [], [], [], [\&main::check_zone], [], [], [], [], [\&main::check_zone], [\&main::scan_files]]
--- response_body_like eval
my $clean = CORE::join '', map { "$_: clean\n" }
    'STATE/byok.db', 'STATE/byok.db-shm', 'STATE/byok.db-wal',
    'logs/access.log', 'logs/error.log';
[
::key_object(1, '"rotation_priority":0,'),
'^(?!.*' . quotemeta($::TAIL) . ')\{"keys":\[\{"id":1,.*"masked":"sk-ant-a\*\*\*"',
::key_object(1),
::key_object(1, '"label":"renamed"'),
'^\z',
'^credential: canary\n\z',
'^credential: canary\n\z',
'^zone mapping: MADV_DONTDUMP\nzone: holds the canary\n\z',
'^\{"result":"valid","status":200,"latency_ms":\d+\}\n\z',
::key_object(1, '"status":"revoked"'),
'^(?!.*' . quotemeta($::TAIL) . ')',
'^\{"error":"no_key_available","message":"[^"]+"\}\n\z',
'^zone mapping: MADV_DONTDUMP\nzone: no copy of the canary\n\z',
'^' . quotemeta($clean) . '\z',
]



=== TEST 2: a worker that served nothing: its core holds no form of the master key (read from env:AGENTS_MASTER_KEY)
--- request
GET /check?gcore
--- error_code: 204
--- response_body_filters eval
sub { main::check_gcore(@main::MASTER_FORMS) }
--- response_body eval
"core: made by gcore\n" . CORE::join '', map { "in the core: no copy of $_->[0]\n" } @main::MASTER_FORMS



=== TEST 3: the same with the master key read from a file (file:), nginx started without AGENTS_MASTER_KEY in its environment
--- master_key_file
--- request
GET /check?gcore
--- error_code: 204
--- response_body_filters eval
sub { main::check_gcore(@main::MASTER_FORMS) }
--- response_body eval
"core: made by gcore\n" . CORE::join '', map { "in the core: no copy of $_->[0]\n" } @main::MASTER_FORMS



=== TEST 4: a worker that added the canary through the user API keeps no copy of it (the request body is plaintext)
--- more_headers eval
[::api(), ""]
--- request eval
["POST /me/provider-keys\n" . ::create_body(), "GET /check?gcore"]
--- error_code eval
[201, 204]
--- response_body_filters eval
[[], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
[::key_object(2, '"rotation_priority":0,'),
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 5: a worker that answered byok_lookup keeps the canary in the zone only, which the core leaves out
--- more_headers eval
["X-User: alice", "", ""]
--- request eval
["GET /lookup?provider=anthropic", "GET /check?zone", "GET /check?gcore"]
--- error_code eval
[200, 204, 204]
--- response_headers eval
["X-BYOK-Key: $::CANARY\nX-BYOK-Key-Id: 2", "", ""]
--- response_body_filters eval
[[], [\&main::check_zone], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
['^\z',
 '^zone mapping: MADV_DONTDUMP\nzone: holds the canary\n\z',
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 6: a worker that served byok_lookup as an auth_request target keeps no copy
--- more_headers eval
["X-User: alice", ""]
--- request eval
["GET /runtime/v1/messages", "GET /check?gcore"]
--- error_code eval
[200, 204]
--- response_body_filters eval
[[], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
['^credential: canary\n\z',
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 7: a worker that injected the canary into a proxied call keeps no copy
--- more_headers eval
["X-User: alice", ""]
--- request eval
["GET /anthropic/v1/messages", "GET /check?gcore"]
--- error_code eval
[200, 204]
--- response_body_filters eval
[[], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
['^credential: canary\n\z',
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 8: a worker that tested the canary against the provider keeps no copy
--- more_headers eval
[::api(), ""]
--- request eval
["POST /me/provider-keys/2/test", "GET /check?gcore"]
--- error_code eval
[200, 204]
--- response_body_filters eval
[[], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
['^\{"result":"valid","status":200,"latency_ms":\d+\}\n\z',
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 9: (SIGSEGV) a worker that injected the canary holds it in its zone
--- more_headers eval
["X-User: alice", ""]
--- request eval
["GET /anthropic/v1/messages", "GET /check?zone"]
--- error_code eval
[200, 204]
--- response_body_filters eval
[[], [\&main::check_zone]]
--- response_body_like eval
['^credential: canary\n\z',
 '^zone mapping: MADV_DONTDUMP\nzone: holds the canary\n\z']



=== TEST 10: (SIGSEGV) killed by SIGSEGV, the worker leaves a kernel core without the zone and without the canary cached in it
--- same_server
--- skip_eval
6: !main::kernel_cores_here()
--- request
GET /check?segv
--- error_code: 204
--- response_body_filters eval
sub { main::check_segv(@main::CANARY_FORMS) }
--- response_body eval
"core: written by the kernel\n" . CORE::join '', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS
--- wait: 0.5
--- error_log
[alert]
exited on signal 11 (core dumped)
--- no_error_log
[crit]
[emerg]



=== TEST 11: the canary revoked; afterwards neither the zone nor any file holds it or the master key
--- more_headers eval
[::api(), "X-User: alice", "", ""]
--- request eval
["DELETE /me/provider-keys/2", "GET /lookup?provider=anthropic", "GET /check?zone", "GET /check?files"]
--- error_code eval
[200, 403, 204, 204]
--- response_body_filters eval
[[], [], [\&main::check_zone], [\&main::scan_files]]
--- response_body_like eval
my $clean = CORE::join '', map { "$_: clean\n" }
    'STATE/byok.db', 'STATE/byok.db-shm', 'STATE/byok.db-wal',
    'logs/access.log', 'logs/error.log';
[::key_object(2, '"status":"revoked"'),
 '',
 '^zone mapping: MADV_DONTDUMP\nzone: no copy of the canary\n\z',
 '^' . quotemeta($clean) . '\z']



=== TEST 12: a worker that retried a request refused with 429 keeps no copy of the refused key
The request proxied first, with the canary, is done with when error_page
sends the request to the retry location, whose proxy_pass replaces it:
the canary in it must be wiped as well as the one in the second.
--- more_headers eval
[::api(), "X-User: alice", ""]
--- request eval
["POST /me/provider-keys\n" . ::create_body(), "GET /rate-limited/v1/messages", "GET /check?gcore"]
--- error_code eval
[201, 401, 204]
--- response_body_filters eval
[[], [], [sub { main::check_gcore(@main::CANARY_FORMS) }]]
--- response_body_like eval
[::key_object(3, '"rotation_priority":0,'),
 '^credential: none\n\z',
 '^' . quotemeta("core: made by gcore\n" . CORE::join('', map { "in the core: no copy of $_->[0]\n" } @main::CANARY_FORMS)) . '\z']



=== TEST 13: with a proxy cache, nginx's cache manager process (it serves no request) holds no form of the master key read from the environment
--- cache_manager
--- request
GET /check?gcore
--- error_code: 204
--- response_body_filters eval
sub { main::gcore_of('cache manager process', @main::MASTER_FORMS) }
--- response_body eval
"core: made by gcore\n" . CORE::join '', map { "in the core: no copy of $_->[0]\n" } @main::MASTER_FORMS
