package Test::Nginx::Util;

# Server management for the local Test::Nginx::Socket-compatible runner:
# configuration template, server root handling, nginx start/stop/reload,
# the embedded TCP backend and the block loop.  Behaviour follows the
# upstream Test::Nginx (openresty/test-nginx) for the subset used here.

use strict;
use warnings;

our $VERSION = '0.30';

use base 'Exporter';

use POSIX qw(SIGQUIT SIGKILL SIGTERM SIGHUP SIGUSR1 WNOHANG);
use File::Spec ();
use File::Path qw(make_path remove_tree);
use File::Find qw(find);
use File::Temp ();
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep);
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use Socket qw(SOCK_STREAM);
use Config ();
use Carp ();
use Test::More ();
use Test::LongString ();

our @EXPORT = qw(
    env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string
    $ServerAddr server_addr $ServerName server_name
    parse_time verbose sleep_time bail_out add_cleanup_handler
    access_log_data error_log_data setup_server_root write_config_file
    get_canon_version get_nginx_version trim show_all_chars parse_headers
    run_tests run_test get_pid_from_pidfile expand_env_in_text
    $ServerPortForClient $ServerPort $NginxVersion $PidFile $ServRoot
    $ConfFile $RunTestHelper $CheckErrorLog $FilterHttpConfig
    $NoNginxManager $RepeatEach
    add_block_preprocessor timeout worker_connections workers
    master_on master_off config_preamble repeat_each
    master_process_enabled log_level no_shuffle no_root_location
    html_dir server_root server_port server_port_for_client
    no_nginx_manager use_hup
);

# ---------------------------------------------------------------------------
# Settings (environment first, then the Perl API called from the .t file)

our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $UseHup               = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput       = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled        = 'on';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NoRootLocation       = 0;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestartOnTest   = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                            ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $RepeatEach           = 1;
our $NoLongString;
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ConfigPreamble       = '';
our $FilterHttpConfig;

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

# nginx has to stay in the foreground (as our child) under valgrind
if ($UseValgrind) {
    $DaemonEnabled = 'off';
}

our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;

# hooks filled in by Test::Nginx::Socket
our $RunTestHelper;
our $CheckErrorLog;

# runtime state
our ($ChildPid, $TcpServerPid, $InSubprocess);
our ($PrevConfig, $PrevBlock, $ConfigVersion);
our ($NginxVersion, $NginxRawVersion);
our $FirstTime     = 1;
our $ErrLogFilePos = 0;
our $TotalConnectingTimeouts = 0;
our ($ValgrindLog, $ValgrindLogPos);

our $ServRoot   = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

my @RandStrAlphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '#', '@', '-', '_', '^');

sub bail_out (@);

# ---------------------------------------------------------------------------
# Small accessors

# a zombie that has not been reaped yet no longer counts as running
sub is_running ($) {
    my $pid = shift;
    return 0 if !kill 0, $pid;
    if (open my $in, '<', "/proc/$pid/stat") {
        my $stat = <$in> // '';
        close $in;
        return 0 if $stat =~ /^\d+ \(.*\) [ZX]/s;
    }
    return 1;
}
sub no_long_string () { $NoLongString = 1 }
sub no_shuffle () { $NoShuffle = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }
sub use_hup () { $UseHup = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub config_preamble ($) { $ConfigPreamble = shift }
sub sleep_time { return $TestNginxSleep }
sub verbose { return $Verbose }
sub html_dir () { return $HtmlDir }
sub server_root () { return $ServRoot }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

sub _getset {
    my ($ref, @args) = @_;
    $$ref = shift @args if @args;
    return $$ref;
}

sub server_addr (@)            { _getset(\$ServerAddr, @_) }
sub server_name (@)            { _getset(\$ServerName, @_) }
sub timeout (@)                { _getset(\$Timeout, @_) }
sub server_port (@)            { _getset(\$ServerPort, @_) }
sub server_port_for_client (@) { _getset(\$ServerPortForClient, @_) }
sub repeat_each (@)            { _getset(\$RepeatEach, @_) }
sub worker_connections (@)     { _getset(\$WorkerConnections, @_) }
sub workers (@)                { _getset(\$Workers, @_) }
sub log_level (@)              { _getset(\$LogLevel, @_) }

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
    }
    return $MasterProcessEnabled;
}

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            Carp::croak("env_to_nginx: bad argument value: $v\n");
        }
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } else {
            $tm =~ s/([^_a-zA-Z])s$/$1/;
        }
    }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/gs;
    $s =~ s/\r/\\r/gs;
    $s =~ s/\t/\\t/gs;
    return $s;
}

# "Name: value" lines; "!Name" means the header must be absent (undef)
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val // '';
        }
    }
    return \%headers;
}

sub gen_rand_str {
    my $len = shift;
    return join '', map { $RandStrAlphabet[int rand @RandStrAlphabet] } 1 .. $len;
}

sub gen_rand_port {
    my ($tries, $used) = @_;
    $tries //= 1000;
    $used //= {};
    for (1 .. $tries) {
        my $port = int(rand 63550) + 1985;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
            Timeout   => 0.1,
        );
        if ($sock) {
            $sock->close;
            return $port;
        }
    }
    return undef;
}

# $TEST_NGINX_* in config sections and user files come from %ENV;
# $TEST_NGINX_RAND_PORT_N expands to a free port, stable within a block.
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;

    my %used = ($ServerPort => 1, map { $_ => 1 } values %$rand_ports);

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my $port = gen_rand_port(1000, \%used);
                bail_out("$name - Cannot find an available listening port number for $var.\n")
                    if !defined $port;
                $rand_ports->{$var} = $port;
                $used{$port} = 1;
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n") if !defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

# ---------------------------------------------------------------------------
# Process helpers

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

sub kill_process ($$$) {
    my ($pid, $wait, $name) = @_;
    return if !defined $pid;

    if ($wait) {
        warn "sending QUIT signal to $pid\n" if $Verbose;
        kill SIGQUIT, $pid;

        my $left = timeout();
        while ($left > 0 && is_running($pid)) {
            waitpid $pid, WNOHANG;
            sleep 0.05;
            $left -= 0.05;
        }
        if (is_running($pid)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            kill SIGKILL, $pid;
            waitpid $pid, WNOHANG;
            sleep 0.05;
        }
    }

    my $step = $TestNginxSleep;
    for (1 .. 20) {
        waitpid $pid, WNOHANG;
        return if !is_running($pid);
        warn "WARNING: killing the child process $pid.\n" if $Verbose;
        kill SIGTERM, $pid;
        $step *= 1.2;
        $step = 0.5 if $step > 0.5;
        sleep $step;
    }

    warn "$name - WARNING: killing the child process $pid with force...\n";
    kill SIGKILL, $pid;
    waitpid $pid, 0;
}

sub cleanup () {
    $_->() for @CleanupHandlers;

    if (defined $TcpServerPid) {
        stop_tcp_server();
    }

    if (defined $ChildPid) {
        stop_child_nginx('cleanup');
    }
}

sub can_run {
    my $cmd = shift;
    if ($cmd =~ m{[/\\]}) {
        return (-f $cmd && -x $cmd) ? $cmd : undef;
    }
    for my $dir ((split /\Q$Config::Config{path_sep}\E/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x $abs;
    }
    return undef;
}

sub get_canon_version (@) {
    return sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        $out //= '';
        bail_out("Failed to get the version of the Nginx in PATH: $out");
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub get_pid_from_pidfile ($) {
    my ($name) = @_;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    $pid //= '';
    chomp $pid;
    return $pid;
}

# ---------------------------------------------------------------------------
# Log access

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return undef;
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# Returns the error log lines written since the previous call for the
# current block (all lines with check_accum_error_log()).
sub error_log_data () {
    # give nginx time for log-phase output written after the response
    sleep $TestNginxSleep * 3;

    open my $in, '<', $ErrLogFile or return undef;
    if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
        seek $in, $ErrLogFilePos, 0;
    }
    my @lines = <$in>;
    if (!$CheckAccumErrLog) {
        $ErrLogFilePos = tell $in;
    }
    close $in;
    return \@lines;
}

# ---------------------------------------------------------------------------
# Server root and configuration

# Called before every (re)start, like upstream: without HUP, conf/, html/,
# logs/, *_temp and *_cache are removed and the server root itself must then
# be empty (anything else in it aborts the run).  With HUP, every regular
# file below the server root is removed (the pid file, sockets, certificates
# and keys are kept after the first block); directories are kept.
sub setup_server_root ($) {
    my $first_time = shift;

    if (-d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));

        if ($UseHup) {
            find({ bydepth => 1, no_chdir => 1, wanted => sub {
                return if -d $_;
                if (/(?:\bnginx\.pid|\.sock|\.crt|\.key)$/) {
                    return unless $first_time;
                }
                unlink $_ or warn "Failed to remove $_\n";
            } }, $ServRoot);

        } else {
            remove_tree($HtmlDir, $LogDir);
            rmdir $ServRoot
                or bail_out("Can't remove $ServRoot (not empty?): $!");
        }
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir) {
        if (!-d $dir) {
            mkdir $dir or bail_out("Failed to do mkdir $dir\n");
        }
    }

    my $index_file = "$HtmlDir/index.html";
    open my $out, '>', $index_file
        or bail_out("Can't open $index_file for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;

    mkdir $ConfDir or bail_out("Failed to do mkdir $ConfDir\n");
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if $fname;
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";

        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }

        $body = expand_env_in_text($body, $name, $rand_ports);

        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;

        if ($date) {
            my $cmd = "TZ=GMT touch -t '$date' $path";
            system($cmd) == 0
                or bail_out("Failed to run shell command: $cmd\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;

    # a reload with the master process off does not work
    master_on() if $UseHup;

    my $http_config = expand_env_in_text($block->http_config, $name, $rand_ports) // '';
    my $main_config = $block->main_config // '';
    my $post_main_config = expand_env_in_text($block->post_main_config, $name, $rand_ports) // '';
    my $err_log_file = $block->error_log_file || $ErrLogFile;
    my $server_name = $block->server_name // $ServerName;

    $config //= '';

    if ($FilterHttpConfig) {
        $http_config = $FilterHttpConfig->($http_config);
    }

    my $extra_http_config = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        if ($PostponeOutput !~ /^\d+$/) {
            bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $PostponeOutput\n");
        }
        $extra_http_config = "    postpone_output $PostponeOutput;\n";
    }

    if ($LoadModules) {
        my @modules = map { "load_module $_;" } grep { $_ } split /\s+/, $LoadModules;
        $main_config .= join ' ', @modules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    my $env = '';
    for my $v (qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
                  LD_PRELOAD LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES
                  DYLD_FORCE_FLAT_NAMESPACE), @EnvToNginx)
    {
        my $quoted = $v =~ /\s/ ? "'$v'" : $v;
        $env .= "env $quoted;\n";
    }

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $hup_server = !$UseHup ? '' : <<"_EOC_";
    server {
        listen          $ServerPort;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_

    my $events_use = $EventType ? "    use $EventType;\n" : '';

    # never leave a must_die server in the foreground (valgrind mode)
    my $daemon = defined $block->must_die ? 'on' : $DaemonEnabled;

    my $user = '';
    if (defined $WorkerUser) {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user = "user root;\n";
    }

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");

    print $out <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;
$extra_http_config
$http_config

    server {
        listen          $ServerPort;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
$hup_server}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$events_use}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_

    close $out;
}

# ---------------------------------------------------------------------------
# Starting and stopping nginx

sub nginx_command () {
    return "$NginxBinary -p $ServRoot/ -c $ConfFile > /dev/null";
}

sub valgrind_command ($) {
    my $cmd = shift;

    if ($UseValgrind =~ /^\d+$/) {
        my $opts = '--tool=memcheck --leak-check=full --show-possibly-lost=no';
        my ($supp) = grep { -f $_ } 'valgrind.suppress', 't/valgrind.suppress';
        my $supp_opt = $supp ? " --suppressions=$supp" : '';
        return "valgrind --num-callers=100 -q $opts --gen-suppressions=all$supp_opt $cmd";
    }

    return "valgrind -q $UseValgrind $cmd";
}

# Everything nginx prints on stderr at startup (e.g. "[emerg]" lines when
# the error log is not open yet) is shown on our stderr and appended to
# error.log, so --- error_log checks see it as with an nginx built with
# the usual default error log path.
sub relay_startup_stderr ($) {
    my $file = shift;
    open my $in, '<', $file or return;
    my $data = do { local $/; <$in> };
    close $in;
    return if !defined $data || $data eq '';

    print STDERR $data;
    if (-d $LogDir && open my $log, '>>', $ErrLogFile) {
        print $log $data;
        close $log;
    }
}

# nginx under valgrind runs in the foreground as our child; its stderr
# (valgrind's report included) goes to a private file that is relayed to
# our stderr after each block.
sub start_valgrind_nginx ($) {
    my $name = shift;

    if (!defined $ValgrindLog) {
        my $tmp = File::Temp->new(TEMPLATE => 'test-nginx-vg-XXXXXX', TMPDIR => 1);
        $ValgrindLog = $tmp->filename;
        $tmp->unlink_on_destroy(0);
        close $tmp;
        $ValgrindLogPos = 0;
    }

    my $cmd = valgrind_command(nginx_command());
    warn "$name\n";

    my $pid = fork();
    bail_out("$name - fork() failed: $!") if !defined $pid;

    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp;
        open STDERR, '>>', $ValgrindLog or POSIX::_exit(127);
        exec "exec $cmd" or POSIX::_exit(127);
    }

    $ChildPid = $pid;

    # nginx under valgrind takes seconds to start: a block's --- init and
    # its requests come only once the server port accepts connections (or
    # the child has gone, or 60 s have passed: the requests then fail)
    for (1 .. 1200) {
        if (waitpid($pid, WNOHANG) != 0) {
            # it did not start (a port still held, say): never let the
            # block talk to whatever else answers on the port
            undef $ChildPid;
            bail_out("$name - nginx under valgrind exited at start-up "
                     . "(status $?)");
        }
        my $sock = IO::Socket::INET->new(
            PeerAddr => $ServerAddr,
            PeerPort => $ServerPort,
            Proto    => 'tcp',
            Timeout  => 1,
        );
        if ($sock) {
            close $sock;
            last;
        }
        sleep 0.05;
    }

    sleep $TestNginxSleep;
}

sub stop_child_nginx ($) {
    my $name = shift;
    my $pid = $ChildPid;
    return if !defined $pid;

    kill SIGQUIT, $pid;

    # valgrind prints its leak report after nginx exits; allow time for it
    my $left = timeout() < 10 ? 10 : timeout();
    while ($left > 0) {
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
        $left -= 0.05;
    }
    if (is_running($pid)) {
        warn "$name - timeout when waiting for the process $pid to exit\n";
        kill SIGKILL, -$pid;
        waitpid $pid, 0;
    }
    unlink $PidFile if -f $PidFile;
    undef $ChildPid;
}

# Relays valgrind output produced since the last call; any "==PID==" report
# line other than a plain warning fails the current block.
sub check_valgrind_log ($) {
    my $name = shift;
    return if !defined $ValgrindLog || !-f $ValgrindLog;

    open my $in, '<', $ValgrindLog or return;
    seek $in, $ValgrindLogPos, 0;
    my $data = do { local $/; <$in> };
    $ValgrindLogPos = tell $in;
    close $in;
    return if !defined $data || $data eq '';

    print STDERR $data;

    my @errors = grep { /^==\d+== / && !/^==\d+== +(?:Warning|WARNING):/ }
                 split /\n/, $data;
    if (@errors) {
        my $max = 40;
        my @shown = @errors > $max ? (@errors[0 .. $max - 1], '...') : @errors;
        Test::More::fail("$name - valgrind reported errors");
        Test::More::diag(join "\n", @shown);
    }
}

sub start_nginx ($$$$) {
    my ($block, $config, $rand_ports, $first_time) = @_;
    my $name = $block->name;
    my $must_die = $block->must_die;

    setup_server_root($first_time);
    write_user_files($block, $rand_ports);
    write_config_file($block, $config, $rand_ports);

    if (!can_run($NginxBinary)) {
        bail_out("$name - Cannot find the nginx executable in the PATH environment");
    }

    if ($UseValgrind) {
        start_valgrind_nginx($name);
        return 1;
    }

    my $cmd = nginx_command();
    my $errtmp = File::Temp->new(TEMPLATE => 'test-nginx-err-XXXXXX', TMPDIR => 1);
    my $errfile = $errtmp->filename;

    $ErrLogFilePos = 0;
    my $i = 0;
    my $waited = 0;

    while (1) {
        system("$cmd 2>$errfile");
        my $status = $?;
        relay_startup_stderr($errfile);

        if (defined $must_die) {
            my $exit_code = $status == -1 ? undef : $status >> 8;

            if ($status == -1) {
                Test::More::fail("$name - failed to execute the nginx command line");
            } elsif ($status & 127) {
                Test::More::fail("$name - nginx died from signal " . ($status & 127));
            } elsif (looks_like_number($must_die)) {
                Test::More::is($must_die, $exit_code, "$name - die with the expected exit code");
            } else {
                Test::More::isnt($status, 0, "$name - die as expected");
            }

            $CheckErrorLog->($block, undef, 0, $i, 0);

            if ($status == 0) {
                warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
                for (1 .. 15) {
                    last if -f $PidFile;
                    sleep $TestNginxSleep;
                }
                kill_process(get_pid_from_pidfile($name), 1, $name);
            }

            next if ++$i < $RepeatEach;
            return 0;
        }

        last if $status == 0;

        # the port may still be held by the previous instance: retry a while
        $i++;
        my $delay = 0.1 * $i;
        $delay = 1 if $delay > 1;
        sleep $delay;
        $waited += $delay;
        next if $waited < 30;
        bail_out("$name - Cannot start nginx using command \"$cmd\" (status code $status).");
    }

    sleep $TestNginxSleep;
    return 1;
}

# HUP mode: waits until the reloaded configuration answers /ver
sub test_config_version ($) {
    my $name = shift;
    my $total = 200;
    my $nsucc = 0;

    for my $tries (1 .. $total) {
        my $ver = fetch_config_version();

        if (defined $ver && $ver eq $ConfigVersion) {
            $nsucc++;
            sleep $TestNginxSleep if $nsucc == 5;
            return if $nsucc >= 20;
            next;
        }
        $nsucc = 0;

        my $wait = ($TestNginxSleep + $TestNginxSleep * $tries) * $tries / 2;
        $wait = 1 if $wait > 1;
        warn "$name - waiting $wait sec for nginx to reload the configuration\n"
            if $wait > 0.5;
        sleep $wait;
    }

    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration after $total failed test requests");
}

sub fetch_config_version () {
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPort,
        Proto    => 'tcp',
        Timeout  => 2,
    ) or return undef;

    print $sock "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n";
    my $resp = do { local $/; <$sock> };
    close $sock;
    return undef if !defined $resp;
    return $resp =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
}

# ---------------------------------------------------------------------------
# Embedded TCP backend (--- tcp_listen / tcp_reply / tcp_query)

sub start_tcp_server ($) {
    my $block = shift;
    my $name = $block->name;
    my $target = $block->tcp_listen;

    my $reply = $block->tcp_reply;
    if (!defined $reply && !defined $block->tcp_shutdown) {
        bail_out("$name - no --- tcp_reply specified but --- tcp_listen is specified");
    }

    # the query received is kept in a file (removed when the object goes)
    my ($req_len, $query_file) = ($block->tcp_query_len);
    if (defined $block->tcp_query || defined $req_len) {
        $req_len //= length $block->tcp_query;
        $query_file = File::Temp->new(TEMPLATE => 'test-nginx-tcp-XXXXXX', TMPDIR => 1);
    }

    my ($sock, $err);
    for my $try (1 .. 30) {
        if ($target =~ /^\d+$/) {
            $sock = IO::Socket::INET->new(
                LocalHost => '127.0.0.1',
                LocalPort => $target,
                Proto     => 'tcp',
                ReuseAddr => 1,
                Listen    => 5,
            );
        } elsif ($target =~ /\S+\.sock$/) {
            unlink $target if -e $target;
            $sock = IO::Socket::UNIX->new(
                Local  => $target,
                Type   => SOCK_STREAM,
                Listen => 5,
            );
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }
        last if $sock;

        $err = $!;
        last if $err !~ /address already in use/i;
        warn "WARNING: failed to create the tcp listening socket: $err\n";
        sleep 1;
    }
    bail_out("$name - failed to create the tcp listening socket: $err") if !$sock;

    my $pid = fork();
    bail_out("$name - fork() failed: $!") if !defined $pid;

    if ($pid == 0) {
        $InSubprocess = 1;
        $SIG{TERM} = 'DEFAULT';
        tcp_server_loop($block, $sock, $reply, $req_len, $query_file);
        POSIX::_exit(0);
    }

    $TcpServerPid = $pid;
    return ($sock, $query_file);
}

sub tcp_server_loop {
    my ($block, $sock, $reply, $req_len, $query_file) = @_;
    my $name = $block->name;

    my $client;
    until ($client = $sock->accept) {
        warn "WARNING: $name - TCP server: failed to accept: $!\n";
        sleep $TestNginxSleep;
    }

    my ($no_read, $no_write);
    if (defined $block->tcp_shutdown) {
        my $how = $block->tcp_shutdown;
        sleep parse_time($block->tcp_shutdown_delay) if $block->tcp_shutdown_delay;
        $client->shutdown($how);
        if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
    }

    my $buf = '';
    unless ($no_read) {
        while (1) {
            my $chunk;
            my $ret = $client->recv($chunk, 4096);
            last if !defined $ret || !defined $chunk || $chunk eq '';
            $buf .= $chunk;

            if ($query_file && open my $out, '>', "$query_file") {
                binmode $out;
                print $out $buf;
                close $out;
            }

            last if !$req_len || length($buf) >= $req_len;
        }
    }

    my $delay = parse_time($block->tcp_reply_delay);
    sleep $delay if $delay;

    if (!$no_write && defined $reply) {
        $reply = $reply->($buf) if ref $reply eq 'CODE';
        for my $r (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            defined $client->send($r)
                or warn "WARNING: tcp server failed to send reply: $!\n";
        }
    }

    if (defined $block->tcp_no_close) {
        sleep 1 while 1;
    }

    $client->close;
    $sock->close;
}

sub stop_tcp_server () {
    my $pid = $TcpServerPid;
    return if !defined $pid;
    kill SIGTERM, $pid;
    waitpid $pid, 0;
    undef $TcpServerPid;
}

sub run_tcp_server_tests ($$) {
    my ($block, $query_file) = @_;
    my $name = $block->name;
    return if !$query_file;

    my $buf = '';
    if (open my $in, '<', "$query_file") {
        binmode $in;
        $buf = do { local $/; <$in> } // '';
        close $in;
    }

    if (defined $block->tcp_query) {
        is_str($buf, $block->tcp_query, "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length($buf), $block->tcp_query_len, "$name - TCP query length ok");
    }
}

# ---------------------------------------------------------------------------
# The block loop

sub run_tests () {
    $NginxVersion = get_nginx_version();

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        if !defined $ENV{TEST_NGINX_SERVER_PORT};

    for my $block ($NoShuffle ? Test::Base::blocks() : shuffle Test::Base::blocks()) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', $0 . ' ' . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}

# "N: op x.y.z[: reason]" (skip_nginx), "N: perl-code" (skip_eval),
# "N: reason" (todo)
sub block_skip_info ($) {
    my $block = shift;
    my $name = $block->name;
    my ($count, $skip, $reason, $todo);

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($count, $reason) = ($1, 'skip_eval');
            my $code = $2;
            $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/) {
            $count = $1;
            my ($op, $ver) = ($2, get_canon_version($3, $4, $5));
            $reason = $6 || "nginx version $op $3.$4.$5";
            $skip = 1 if eval "$NginxVersion $op $ver";
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $spec");
        }
    }

    if (defined(my $spec = $block->todo)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($count, $todo) = ($1, $2);
        } else {
            bail_out("$name - Invalid --- todo spec: $spec");
        }
    }

    return ($count, $skip, $reason // 'various reasons', $todo);
}

# Sections upstream implements but this runner does not: a block using one
# stops the run instead of passing without the check being made.
my @UnsupportedSections = qw(
    http2 http3 curl curl_options curl_protocol curl_error
    udp_listen udp_reply udp_reply_delay udp_query
    stap stap_out stap_out_like stap_out_unlike
    shutdown_error_log no_shutdown_error_log
    skip_nginx2 skip_openssl skip_slave todo_nginx
);

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;

    for my $section (@UnsupportedSections) {
        if (defined $block->$section) {
            bail_out("$name - section --- $section is not supported by this "
                     . "runner; use the upstream Test::Nginx for it");
        }
    }

    my $first_time = $FirstTime;
    $FirstTime = 0;

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    # the server is started in its plain mode for blocks that must fail
    local $UseValgrind = $UseValgrind;
    local $UseHup = $UseHup;
    if (defined $block->must_die) {
        undef $UseValgrind;
        undef $UseHup;
    }

    my ($should_restart, $should_reconfig) = (1, 1);

    if (!defined $config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # as upstream: a block without its own config talks to the server
        # left running by the previous block
        ($should_restart, $should_reconfig) = (0, 0);

    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
        ($should_restart, $should_reconfig) = (0, 0);

    } else {
        $should_reconfig = !defined $PrevConfig || $config ne $PrevConfig;
        $should_restart = $should_reconfig || $ForceRestartOnTest;
    }

    my ($tests_to_skip, $should_skip, $skip_reason, $todo_reason) = block_skip_info($block);

    if (!$NoNginxManager && !$should_skip && $should_restart) {
        $ConfigVersion = gen_rand_str(10) if $UseHup;
        $PrevConfig = $config if $should_reconfig;

        my $reloaded;

        if (-f $PidFile) {
            my $pid = get_pid_from_pidfile($name);

            if ($pid ne '' && is_running($pid)) {
                if ($UseHup && !$first_time) {
                    setup_server_root(0);
                    write_user_files($block, $rand_ports);
                    write_config_file($block, $config, $rand_ports);

                    if (kill SIGUSR1, $pid) {
                        sleep $TestNginxSleep;
                        if (kill SIGHUP, $pid) {
                            sleep $TestNginxSleep * 3;
                            if (defined $block->reload_fails) {
                                sleep 0.3;
                            } else {
                                test_config_version($name);
                            }
                            $reloaded = 1;
                        }
                    } else {
                        warn "$name - Failed to send USR1 signal\n";
                    }
                }

                if (!$reloaded) {
                    if (defined $ChildPid && $ChildPid == $pid) {
                        # the previous block's nginx, under valgrind: its
                        # report at exit (leaks) belongs to that block
                        stop_child_nginx($name);
                        check_valgrind_log(($PrevBlock ? $PrevBlock->name : $name)
                                           . ' (at its nginx\'s exit)');
                    } else {
                        kill_process($pid, 1, $name);
                    }
                }

            } else {
                unlink $PidFile;
            }
        }

        if (!$reloaded) {
            start_nginx($block, $config, $rand_ports, $first_time) or return;
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;

    for my $i (1 .. $RepeatEach) {
        my ($tcp_socket, $tcp_query_file);
        if (defined $block->tcp_listen) {
            ($tcp_socket, $tcp_query_file) = start_tcp_server($block);
        }

        write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $tests_to_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }
        } elsif (defined $todo_reason) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $tests_to_skip);
            }
        } else {
            $RunTestHelper->($block, 0, $i - 1);
            run_tcp_server_tests($block, $tcp_query_file);
        }

        if ($tcp_socket) {
            stop_tcp_server();
            $tcp_socket->close;
        }
    }

    if (my $total_errlog = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile && open my $out, '>>', $total_errlog) {
            print $out "\n=== $0 $name\n";
            if (open my $in, '<', $ErrLogFile) {
                print $out $_ while <$in>;
                close $in;
            }
            close $out;
        }
    }

    # under valgrind nginx goes on running, as it does without: a block
    # without its own --- config talks to it; the next block that starts
    # its own nginx, or the end of the file, stops it
    check_valgrind_log($name) if $UseValgrind;
}

END {
    return if $InSubprocess;

    cleanup();

    if (defined $ChildPid) {
        local $?;
        stop_child_nginx('END');
    }

    if ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN}) {
        local $?;
        if (-f $PidFile) {
            my $pid = get_pid_from_pidfile('END');
            if ($pid ne '' && is_running($pid)) {
                kill_process($pid, 1, 'END');
            } else {
                unlink $PidFile;
            }
        }
    }

    if (defined $ValgrindLog) {
        check_valgrind_log('END');
        unlink $ValgrindLog;
    }
}

1;
