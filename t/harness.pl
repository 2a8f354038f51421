#!/usr/bin/perl
# Runs the C unit tests (executables in the first argument), the
# Test::Nginx suites (*.t under the second) and the browser tests
# (browser/run under the second), then prints one summary line:
# "N passed, N failed".  Upstream Test::Nginx is used when it is installed;
# otherwise the repository's compatible runner in t/lib is put on @INC.

use strict;
use warnings;
use TAP::Harness;

my ($unit_dir, $t_dir, @only) = @ARGV;

my @lib;
{
    # the probe's "Can't locate" is expected when upstream is not installed
    open my $saved, '>&', \*STDERR or die "dup STDERR: $!\n";
    open STDERR, '>', '/dev/null' or die "/dev/null: $!\n";
    my $rc = system($^X, '-MTest::Nginx::Socket', '-e', '1');
    open STDERR, '>&', $saved or die "restore STDERR: $!\n";
    @lib = ('t/lib') if $rc != 0;
}

my @tests;
if (@only) {
    @tests = map { [$_, $_] } @only;
} else {
    push @tests, map { [$_, $_] } sort glob("$unit_dir/test_*")
        if $unit_dir;
    push @tests, map { [$_, $_] } sort glob("$t_dir/*.t");

    # the cabinet page in a browser (an executable printing TAP);
    # TEST_BROWSER=0 leaves it out
    push @tests, ["$t_dir/browser/run", "$t_dir/browser/run"]
        if -x "$t_dir/browser/run" && ($ENV{TEST_BROWSER} // '1') ne '0';
}

# TEST_KEEP_GOING=1 (make test-valgrind sets it): a file that bails out is
# counted as failed and the next file still runs, instead of the whole run
# stopping there.
{
    package KeepGoingHarness;
    our @ISA = ('TAP::Harness');

    # called by TAP::Harness when a test prints "Bail out!"; returning
    # lets it finish that file's parser and go on with the next file
    sub _bailout {
        my ($self, $result) = @_;
        my $why = $result->explanation;
        print STDERR "\nBail out! ", ($why // ''), "\n",
                     "(TEST_KEEP_GOING: going on with the next file)\n";
        return;
    }
}

my $harness = ($ENV{TEST_KEEP_GOING} ? 'KeepGoingHarness' : 'TAP::Harness')->new({
    lib       => \@lib,
    verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
    exec      => sub {
        my ($h, $file) = @_;
        return undef if $file =~ /\.t$/;
        # with TEST_NGINX_USE_VALGRIND the C unit tests run under memcheck
        # too: any error or definite leak makes them fail
        if ($ENV{TEST_NGINX_USE_VALGRIND} && $unit_dir
            && $file =~ m{^\Q$unit_dir\E/test_})
        {
            return ['valgrind', '-q', '--error-exitcode=99',
                    '--leak-check=full', '--errors-for-leak-kinds=definite',
                    $file];
        }
        return [$file];
    },
});

my $agg = $harness->runtests(@tests);

my ($passed, $failed) = (0, 0);
for my $parser (map { $agg->parsers($_) } $agg->descriptions) {
    $passed += scalar $parser->passed;
    $failed += scalar $parser->failed;
    $failed++ if !$parser->failed && ($parser->exit || $parser->parse_errors);
}

print "\n$passed passed, $failed failed\n";
exit($agg->all_passed ? 0 : 1);
