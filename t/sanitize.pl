#!/usr/bin/perl
# Runs a test command (normally t/harness.pl) against the sanitizer build
# of the module (make SANITIZE=1, in BUILD_DIR) and fails when AddressSanitizer
# or UndefinedBehaviorSanitizer reported anything.
#
#   perl t/sanitize.pl BUILD_DIR COMMAND [ARG...]
#
# Debian's nginx is not instrumented, so the ASan runtime has to be the
# first library of the process: a small wrapper script, BUILD_DIR/nginx-san,
# exports LD_PRELOAD and execs the real nginx (TEST_NGINX_BINARY, default
# /usr/sbin/nginx); the command runs with TEST_NGINX_BINARY pointing to it.
# Only nginx gets the preload: perl, sqlite3, curl, node and the other tools
# the tests start run as they are.  The unit tests and byokctl in BUILD_DIR
# are linked with the sanitizers themselves.
#
# Where reports go: log_path is BUILD_DIR/sanitizer-reports/sanitizer (one
# file per process, .PID; the directory is emptied first), but in nginx,
# with gcc, the libubsan the module pulls in next to the preloaded libasan
# makes most reports go to the process's stderr instead, and nginx's stderr
# is its error log.  So after the command this script prints and counts the
# report files and searches the error logs of all blocks, collected through
# TEST_NGINX_ERROR_LOG, and the browser test's nginx log, for sanitizer
# lines and for nginx processes that died on SIGSEGV, SIGABRT, SIGBUS,
# SIGFPE or SIGILL.  The exit status is the command's, or 1 when anything
# was found.
#
# Options (see t/README.md):
#   ASan:  detect_leaks=0 in nginx (LeakSanitizer's exit-time report would
#          list nginx's own never-freed allocations), detect_leaks=1 in the
#          unit tests and byokctl; abort_on_error=1 so a report kills the
#          process with SIGABRT, which nginx's master logs as an alert.
#   UBSan: print_stacktrace=1; the process carries on after a report
#          (recover mode) so one run shows every finding; each one still
#          fails the run.
# SANITIZE_RUNTIME=/path/to/libasan.so chooses the runtime.

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;

my ($build, @cmd) = @ARGV;
die "usage: perl t/sanitize.pl BUILD_DIR COMMAND [ARG...]\n"
    if !defined $build || !@cmd;

$build = File::Spec->rel2abs($build);
my $root = dirname(dirname(File::Spec->rel2abs($0)));
my $module = "$build/ngx_http_byok_module.so";
die "$module does not exist: build it with make SANITIZE=1\n" if !-f $module;

# The runtime the module was linked against: gcc records libasan.so.N as a
# dependency; clang leaves the symbols to the runtime in its resource dir.
sub asan_runtime {
    return $ENV{SANITIZE_RUNTIME} if $ENV{SANITIZE_RUNTIME};

    for my $line (`ldd '$module' 2>/dev/null`) {
        return $1 if $line =~ m{^\s*libasan\.so\S*\s+=>\s+(/\S+)};
    }

    chomp(my $arch = `uname -m`);
    my $cc = $ENV{CC} || 'cc';
    for my $c ($cc, 'clang') {
        chomp(my $rt = `$c -print-file-name=libclang_rt.asan-$arch.so 2>/dev/null`);
        return $rt if $rt =~ m{^/} && -f $rt;
    }

    die "cannot find the ASan runtime of $module; "
        . "set SANITIZE_RUNTIME=/path/to/libasan.so\n";
}

my $runtime = asan_runtime();
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $reports = "$build/sanitizer-reports";
my $errlog = $ENV{TEST_NGINX_ERROR_LOG} || "$build/sanitizer-error.log";
my @other_logs = ("$root/build/browser/logs/error.log");
my $started = time;

remove_tree($reports);
make_path($reports);
unlink $errlog;

my $wrapper = "$build/nginx-san";
open my $out, '>', $wrapper or die "cannot write $wrapper: $!\n";
print $out <<"_EOS_";
#!/bin/sh
# Debian's nginx with the ASan runtime first (written by t/sanitize.pl)
LD_PRELOAD="$runtime\${LD_PRELOAD:+ \$LD_PRELOAD}"
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
export LD_PRELOAD ASAN_OPTIONS
exec '$nginx' "\$@"
_EOS_
close $out;
chmod 0755, $wrapper;

# one log_path for both runtimes: with gcc, the libubsan the module loads
# can take over the report file of the preloaded libasan
my @asan = ("log_path=$reports/sanitizer", 'abort_on_error=1', 'detect_leaks=1',
            'print_summary=1', 'symbolize=1', 'detect_stack_use_after_return=1');
my @ubsan = ("log_path=$reports/sanitizer", 'print_stacktrace=1',
             'print_summary=1', 'symbolize=1');

$ENV{ASAN_OPTIONS} = join ':', @asan, grep { $_ ne '' } $ENV{ASAN_OPTIONS} // '';
$ENV{UBSAN_OPTIONS} = join ':', @ubsan, grep { $_ ne '' } $ENV{UBSAN_OPTIONS} // '';
$ENV{TEST_NGINX_BINARY} = $wrapper;
$ENV{TEST_NGINX_ERROR_LOG} = $errlog;

# for the tests that look at a worker's memory layout (t/150-secrets.t)
$ENV{TEST_NGINX_BYOK_SANITIZED} = 1;

print STDERR "sanitizers: nginx runs with LD_PRELOAD=$runtime\n",
             "sanitizers: reports go to $reports/\n";

my $status = system { $cmd[0] } @cmd;
my $rc = $status == -1 ? 127 : $status & 127 ? 128 + ($status & 127) : $status >> 8;

# the report files: one per process that wrote one
my @files = sort grep { -f $_ && -s _ } glob("$reports/*");
for my $file (@files) {
    open my $in, '<', $file or next;
    my @lines = <$in>;
    close $in;
    print STDERR "\n==== $file\n";
    print STDERR @lines > 80 ? (@lines[0 .. 79], "[... ", @lines - 80, " more lines]\n")
                             : @lines;
}

# sanitizer lines and fatal signals in the error logs; a report's first
# line is shown with the block it appeared in, the whole report once per
# place in the code
my (@logged, %shown);
for my $log ($errlog, grep { -f $_ && (stat _)[9] >= $started } @other_logs) {
    open my $in, '<', $log or next;
    my $block = $log;
    my $report;
    while (my $line = <$in>) {
        if ($line =~ /^=== (.*)/) {
            $block = $1;
            next;
        }
        if (defined $report) {
            if ($line =~ /^\s+#\d+ /) {
                $report .= $line;
                next;
            }
            print STDERR $report;
            undef $report;
        }
        if ($line =~ /AddressSanitizer|UndefinedBehaviorSanitizer
                      |LeakSanitizer|runtime\ error:
                      |exited\ on\ signal\ (?:4|6|7|8|11)\b/x)
        {
            push @logged, "$block: $line";
            my ($where) = $line =~ /^(\S+:\d+:\d+): runtime error:/;
            if ($where && !$shown{$where}++) {
                $report = "\n==== $log ($block)\n$line";
            }
        }
    }
    print STDERR $report if defined $report;
    close $in;
}
if (@logged) {
    print STDERR "\n==== sanitizer lines in the error logs ($errlog)\n", @logged;
}

my $found = @files + @logged;
print "sanitizers: ", scalar @files, " report file(s), ", scalar @logged,
      " report line(s) in the error logs",
      $found ? " - FAILED\n" : " - ok\n";

exit($rc || ($found ? 1 : 0));
