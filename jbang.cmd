@echo off
rem jbang.cmd - Windows twin of ./jbang: run JBang scripts and catalog aliases
rem with nothing but a JDK 17+.
rem
rem   jbang labs\02-callback.java      run a script
rem   jbang grade 02                   run an alias from jbang-catalog.json
rem
rem If a real jbang is installed (on PATH) it is used as is. Otherwise JBang
rem (JBANG_VERSION below) is taken from Maven Central with the project's Maven
rem wrapper (first run only), and run the way JBang's own jbang.cmd runs it.
rem
rem kafka-workshop-jbang-launcher  (marker: lets copies of this file recognise each other)
rem
rem Flow is kept to plain "goto"s: paths such as "C:\Program Files (x86)\..."
rem break parenthesised blocks in cmd.
setlocal EnableExtensions DisableDelayedExpansion

set "JBANG_VERSION=0.132.1"
set "ROOT=%~dp0"
set "SELF=%~f0"

rem The workshop's verbs from any folder: an alias of this kit's catalog is named
rem with the catalog's path (JBang looks for a catalog only from the working
rem folder up, and prefers a folder named like an alias, such as slides\).
rem With no arguments: help. The kit's tools find the kit through KAFKA_WORKSHOP_HOME.
set "KAFKA_WORKSHOP_HOME=%ROOT:~0,-1%"
if "%~1"=="" goto :help
echo %~1| findstr /r "[@\\/.]" >nul && goto :after_alias_fix
echo %~1| findstr /b /c:"-" >nul && goto :after_alias_fix
findstr /l /c:"\"%~1\":" "%ROOT%jbang-catalog.json" >nul 2>&1 || goto :after_alias_fix
call "%SELF%" "%~1@%ROOT%jbang-catalog.json" %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
:help
call "%SELF%" "help@%ROOT%jbang-catalog.json"
exit /b %ERRORLEVEL%
:after_alias_fix

rem ---------------------------------------------------------------------------
rem 1. A real jbang on PATH wins. "where" also lists this file, other copies of
rem    this launcher, and the extension-less bash ./jbang: all skipped.
rem ---------------------------------------------------------------------------
set "REAL_JBANG="
for /f "delims=" %%J in ('where jbang 2^>nul') do call :consider_real "%%~fJ"
if not defined REAL_JBANG goto :find_java
call "%REAL_JBANG%" %*
exit /b %ERRORLEVEL%

:consider_real
if defined REAL_JBANG exit /b 0
if /i "%~f1"=="%SELF%" exit /b 0
if /i not "%~x1"==".cmd" if /i not "%~x1"==".bat" if /i not "%~x1"==".exe" exit /b 0
findstr /l /m /c:"kafka-workshop-jbang-launcher" "%~1" >nul 2>&1 && exit /b 0
set "REAL_JBANG=%~1"
exit /b 0

rem ---------------------------------------------------------------------------
rem 2. A JDK 17+: JAVA_HOME first, then PATH (JBang needs javac to compile).
rem ---------------------------------------------------------------------------
:find_java
set "JAVA_EXE="
set "JAVAC_EXE="
if not defined JAVA_HOME goto :java_from_path
if not exist "%JAVA_HOME%\bin\java.exe" goto :err_java_home
set "JAVA_EXE=%JAVA_HOME%\bin\java.exe"
if exist "%JAVA_HOME%\bin\javac.exe" set "JAVAC_EXE=%JAVA_HOME%\bin\javac.exe"
goto :check_java_version

:java_from_path
for /f "delims=" %%J in ('where java 2^>nul') do if not defined JAVA_EXE set "JAVA_EXE=%%J"
if not defined JAVA_EXE goto :err_no_java
for /f "delims=" %%J in ('where javac 2^>nul') do if not defined JAVAC_EXE set "JAVAC_EXE=%%J"

:check_java_version
rem "java -version" prints e.g.: openjdk version "17.0.15" 2025-04-15 (on stderr).
rem A temp file avoids for /f's trouble with quoted commands.
set "JVER="
set "JVER_FILE=%TEMP%\kafka-workshop-jver-%RANDOM%%RANDOM%.txt"
"%JAVA_EXE%" -version >nul 2>"%JVER_FILE%"
for /f "usebackq tokens=1-3" %%A in ("%JVER_FILE%") do if /i "%%B"=="version" if not defined JVER set "JVER=%%~C"
del /f /q "%JVER_FILE%" >nul 2>&1
rem 17.0.15 -> 17, 25-ea -> 25, 1.8.0_392 -> 8 (pre-9 numbering)
set "JMAJOR=0"
for /f "tokens=1,2 delims=.-_+" %%A in ("%JVER%") do if "%%A"=="1" (set "JMAJOR=%%B") else (set "JMAJOR=%%A")
if not defined JVER set "JVER=unknown"
if %JMAJOR% LSS 17 goto :err_old_java
if not defined JAVAC_EXE goto :err_no_javac

rem ---------------------------------------------------------------------------
rem 3. JBang's jars: fetched once with mvnw into a cache folder.
rem    Unlike ./jbang this copies the jars (dependency:copy-dependencies) and uses
rem    a "lib\*" classpath: a full list of ~57 jar paths can exceed cmd's 8191
rem    character line limit. tools\jbang-launcher\pom.xml swaps jbang-cli's
rem    gson 2.10.1 (every catalog loads EMPTY with it) for gson 2.13.2.
rem ---------------------------------------------------------------------------
set "POM=%ROOT%tools\jbang-launcher\pom.xml"
set "CACHE_BASE=%USERPROFILE%\.cache"
if defined XDG_CACHE_HOME set "CACHE_BASE=%XDG_CACHE_HOME%"
set "CACHE_DIR=%CACHE_BASE%\kafka-workshop\jbang-%JBANG_VERSION%"
set "LIB_DIR=%CACHE_DIR%\lib"
set "JAR_LIST=%CACHE_DIR%\jars.txt"
set "POM_COPY=%CACHE_DIR%\pom.xml"
set "LOG=%CACHE_DIR%\fetch.log"

rem Valid when made from the current pom and every jar it listed is still there.
if not exist "%POM%" goto :err_no_pom
if not exist "%JAR_LIST%" goto :fetch
if not exist "%POM_COPY%" goto :fetch
fc /b "%POM%" "%POM_COPY%" >nul 2>&1 || goto :fetch
set "STALE="
for /f "usebackq delims=" %%F in ("%JAR_LIST%") do if not exist "%LIB_DIR%\%%F" set "STALE=1"
if defined STALE goto :fetch
goto :run

:fetch
if not exist "%ROOT%mvnw.cmd" goto :err_no_mvnw
>&2 echo Fetching JBang %JBANG_VERSION% from Maven Central (first run only)...
if not exist "%CACHE_DIR%" mkdir "%CACHE_DIR%"
if exist "%JAR_LIST%" del /f /q "%JAR_LIST%"
if exist "%LIB_DIR%" rmdir /s /q "%LIB_DIR%"
rem All of mvnw's output goes to a log, so stdout stays clean for the caller.
call "%ROOT%mvnw.cmd" -q -B -f "%POM%" dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=%LIB_DIR%" >"%LOG%" 2>&1
if errorlevel 1 goto :err_fetch
if not exist "%LIB_DIR%\jbang-cli-%JBANG_VERSION%.jar" goto :err_fetch
copy /y "%POM%" "%POM_COPY%" >nul
rem The jar list is written last: its presence marks a complete fetch.
dir /b "%LIB_DIR%\*.jar" >"%JAR_LIST%"

rem ---------------------------------------------------------------------------
rem 4. Run JBang like its own jbang.cmd: these tell it how to format the command
rem    it hands back, how it was started, and whether stdin is a terminal
rem    ("timeout" fails without a console).
rem ---------------------------------------------------------------------------
:run
set "JBANG_RUNTIME_SHELL=cmd"
set "JBANG_LAUNCH_CMD=%SELF%"
rem JBang's update notice ("run 'jbang version --update'") does not apply to this
rem pinned launcher (bump JBANG_VERSION + the pom instead); skip that check.
if not defined JBANG_NO_VERSION_CHECK set "JBANG_NO_VERSION_CHECK=true"
2>nul >nul timeout /t 0 && (set "JBANG_STDIN_NOTTY=false") || (set "JBANG_STDIN_NOTTY=true")

:pick_out_file
set "OUT_FILE=%TEMP%\kafka-workshop-jbang-%RANDOM%%RANDOM%.out"
if exist "%OUT_FILE%" goto :pick_out_file

rem Exit code 255 means: the first stdout line is a command (already quoted for
rem cmd) to run in JBang's place, e.g. java ... Main args. Anything else is
rem final: pass its output and exit code through. C1-only JIT makes this
rem short-lived JVM start faster; JBANG_JAVA_OPTIONS can override it.
"%JAVA_EXE%" -XX:TieredStopAtLevel=1 %JBANG_JAVA_OPTIONS% -classpath "%LIB_DIR%\*" dev.jbang.Main %* >"%OUT_FILE%"
set "ERR=%ERRORLEVEL%"
if not "%ERR%"=="255" goto :pass_output

set "RUN_CMD="
for /f "usebackq delims=" %%L in ("%OUT_FILE%") do if not defined RUN_CMD set "RUN_CMD=%%L"
del /f /q "%OUT_FILE%" >nul 2>&1
%RUN_CMD%
exit /b %ERRORLEVEL%

:pass_output
type "%OUT_FILE%"
del /f /q "%OUT_FILE%" >nul 2>&1
exit /b %ERR%

rem ---------------------------------------------------------------------------
rem Expected failures: one clear line on stderr, exit code 1.
rem ---------------------------------------------------------------------------
:err_java_home
>&2 echo jbang: JAVA_HOME is set to "%JAVA_HOME%" but it has no bin\java.exe; point it at a JDK 17+ or unset it.
exit /b 1
:err_no_java
>&2 echo jbang: Java not found. Install a JDK 17 or newer and put it on PATH (or set JAVA_HOME).
exit /b 1
:err_old_java
>&2 echo jbang: JDK 17 or newer is required, but "%JAVA_EXE%" is version %JVER%. Install a JDK 17+ and set JAVA_HOME or PATH.
exit /b 1
:err_no_javac
>&2 echo jbang: "%JAVA_EXE%" is a JRE without javac; JBang needs a full JDK 17+ (set JAVA_HOME or PATH to one).
exit /b 1
:err_no_pom
>&2 echo jbang: missing "%POM%" (is this script still in the project root?)
exit /b 1
:err_no_mvnw
>&2 echo jbang: missing "%ROOT%mvnw.cmd" (the Maven wrapper used to fetch JBang)
exit /b 1
:err_fetch
rem Show Maven's reason, minus its generic "re-run with -e/-X" boilerplate.
>&2 findstr /l /v /c:"re-run Maven" /c:"Re-run Maven" /c:"following articles" /c:"[Help 1] http" "%LOG%"
>&2 echo jbang: could not fetch JBang %JBANG_VERSION% with "%ROOT%mvnw.cmd" (full log: "%LOG%").
exit /b 1
